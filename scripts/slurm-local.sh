#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for q2mm-executor-dask's SLURM test.
#
#   scripts/slurm-local.sh start [DIR]   # write DIR/slurm.conf, start munged, slurmctld, slurmd;
#                                        # wait until sinfo shows the node idle
#   scripts/slurm-local.sh stop [DIR]    # stop them by their pid files
#
# DIR defaults to /tmp/q2mm-slurm; everything (config, munge key and socket, state,
# spool, logs, pid files) lives there. Commands find the cluster through
# SLURM_CONF=DIR/slurm.conf (the test looks there too). Needs root and Debian's
# slurm-wlm and munge (apt-get install -y slurm-wlm munge). Ports: Q2MM_SLURM_PORT
# (slurmctld, default 6917) and the one after it (slurmd).
set -euo pipefail

action=${1:?usage: $0 start|stop [DIR]}
dir=${2:-/tmp/q2mm-slurm}
port=${Q2MM_SLURM_PORT:-6917}
host=$(hostname -s)

stop_pid() {
    local file=$1
    if [[ -s $file ]]; then
        kill "$(cat "$file")" 2>/dev/null || true
        rm -f "$file"
    fi
}

stop() {
    stop_pid "$dir/slurmd.pid"
    stop_pid "$dir/slurmctld.pid"
    stop_pid "$dir/munge/munged.pid"
}

write_conf() {
    local memory
    memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    cat >"$dir/slurm.conf" <<CONF
ClusterName=q2mm
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=2 RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    mkdir -p "$dir/munge"
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chown -R munge: "$dir/munge"
    chmod 711 "$dir/munge"
    chmod 400 "$dir/munge/munge.key"
    runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
        --seed-file="$dir/munge/munged.seed"
}

start() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null ||
        { echo "slurm-local: slurm-wlm and munge are not installed" >&2; exit 1; }
    stop
    rm -rf "$dir"
    mkdir -p "$dir/state" "$dir/spool"
    chmod 755 "$dir"
    write_conf
    start_munge
    export SLURM_CONF=$dir/slurm.conf
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if [[ $(sinfo -h -o %T 2>/dev/null) == idle ]]; then
            echo "slurm-local: node $host idle; export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm-local: node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
    stop
    exit 1
}

case $action in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac
