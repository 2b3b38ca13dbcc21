"""The persistent driver: one long-lived process per structure instead of one Tinker
program start (0.27–0.32 s) per evaluation.

``driver/q2mm_driver.f90`` is q2mm's own Fortran (it contains no Tinker code). At first
use it is compiled with gfortran against the user's ``libtinker.a`` and module files
and cached in ``$XDG_CACHE_HOME/q2mm/tinker-driver/<hash>/`` (``~/.cache`` by default),
keyed by the hash of the library, the driver source and the link flags — a rebuilt
Tinker gets a new driver. ``TINKER_LINK_FLAGS`` replaces the default link flags
(``-fopenmp -lfftw3_threads -lfftw3``, what Tinker's own Makefile links).

The process reads commands on stdin and answers on stdout (protocol in the Fortran
file's header); Tinker's own messages go to ``q2mm_driver.log`` in the session's work
folder. New parameters are a rewritten keyfile and ``KEY``, which makes the driver
re-read it and run Tinker's ``mechanic`` (every parameter assigned again, exactly as a
fresh program start would). Every reply is awaited with a timeout; a driver that dies
(Tinker's ``fatal`` stops the process) raises :class:`TinkerError` quoting the log.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shlex
import subprocess
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import TinkerError, TinkerNotFoundError
from .locate import TinkerInstall, gfortran

DEFAULT_LINK_FLAGS = "-fopenmp -lfftw3_threads -lfftw3"
COMPILE_TIMEOUT = 600.0
XYZ_NAME, KEY_NAME = "structure.xyz", "structure.key"
LOG_NAME, HESSIAN_NAME = "q2mm_driver.log", "hessian.bin"
#: Energy components in the order the driver prints them after the total.
COMPONENTS = (
    "bond", "angle", "strbnd", "urey_bradley", "angang", "opbend", "improper", "imptors",
    "torsion", "strtors", "vdw", "charge", "charge_dipole", "dipole",
)  # fmt: skip


def _source() -> bytes:
    return resources.files("q2mm_engine_tinker").joinpath("driver/q2mm_driver.f90").read_bytes()


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "q2mm" / "tinker-driver"


def driver_executable(install: TinkerInstall) -> Path:
    """The compiled driver for this Tinker library, building it once if needed."""
    if install.library is None or install.modules is None:
        raise TinkerNotFoundError(
            "the persistent driver needs Tinker's libtinker.a and its .mod files (found beside the "
            "programs' source/ folder or in TINKER_DIR/source); none were found"
        )
    flags = os.environ.get("TINKER_LINK_FLAGS", DEFAULT_LINK_FLAGS)
    digest = hashlib.sha256()
    for part in (install.library.read_bytes(), _source(), flags.encode()):
        digest.update(hashlib.sha256(part).digest())
    folder = _cache_root() / digest.hexdigest()[:16]
    executable = folder / "q2mm_driver"
    if executable.is_file():
        return executable
    compiler = gfortran()
    if compiler is None:
        raise TinkerNotFoundError("building the Tinker driver needs gfortran (or FC) on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "q2mm_driver.f90"
    source.write_bytes(_source())
    partial = folder / f"q2mm_driver.{os.getpid()}.{threading.get_ident()}"
    command = [compiler, "-O2", f"-I{install.modules}", "-J", str(folder), str(source), str(install.library)]
    command += [*shlex.split(flags), "-o", str(partial)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, cwd=folder)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TinkerError("driver build (gfortran)", str(exc), str(source)) from exc
    if done.returncode != 0:
        raise TinkerError("driver build (gfortran)", done.stderr[-2000:], str(source))
    os.replace(partial, executable)  # atomic: concurrent builders all end with one file
    return executable


class Driver:
    """One running driver for one structure in ``folder`` (which already holds
    ``structure.xyz`` and ``structure.key``)."""

    def __init__(self, executable: Path, folder: Path, timeout: float, threads: int) -> None:
        self.folder = folder
        self.timeout = timeout
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GFORTRAN_ERROR_BACKTRACE": "0"}
        self._process = subprocess.Popen(
            [str(executable), XYZ_NAME],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        ready = self._until(lambda line: line.startswith("READY"), "start")
        self.n_atoms = int(ready[-1].split()[1])

    def _pump(self) -> None:
        """Lines of the driver's stdout into the queue until it ends (then None)."""
        with self._process.stdout:
            for line in self._process.stdout:
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _fail(self, what: str, reason: str, printed: list[str] = ()) -> TinkerError:
        """Tinker's own words: its log and anything it printed outside the protocol."""
        log = self.folder / LOG_NAME
        words = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
        words += "\n".join(line for line in printed if not line.lstrip().startswith("#"))[-1000:]  # no banner
        self.close()
        return TinkerError(f"driver ({what})", words, str(self.folder / KEY_NAME), reason)

    def _until(self, done, what: str) -> list[str]:
        lines = []
        while True:
            try:
                line = self._lines.get(timeout=self.timeout)
            except queue.Empty:
                raise self._fail(what, f"gave no answer within {self.timeout} s") from None
            if line is None:
                raise self._fail(what, f"stopped (exit status {self._process.wait()})", lines)
            lines.append(line)
            if done(line):
                return lines

    def ask(self, command: str, what: str) -> list[str]:
        """Send ``command`` (one or more lines) and return the reply without its OK."""
        try:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail(what, "was not running") from None
        reply = self._until(lambda line: line == "OK" or line.startswith("ERROR"), what)
        if reply[-1].startswith("ERROR"):
            raise self._fail(what, reply[-1])
        return reply[:-1]

    def load_key(self, text: str) -> None:
        (self.folder / KEY_NAME).write_text(text)
        self.ask("KEY", "reading parameters")

    def set_coordinates(self, x: np.ndarray) -> None:
        rows = "\n".join(f"{a!r} {b!r} {c!r}" for a, b, c in np.asarray(x, dtype=float).tolist())
        self.ask("XYZ\n" + rows, "coordinates")

    def energy(self) -> tuple[float, dict[str, float]]:
        numbers = [float(v) for v in self.ask("ENERGY", "energy")[0].split()]
        return numbers[0], dict(zip(COMPONENTS, numbers[1:], strict=True))

    def gradient(self) -> tuple[float, np.ndarray]:
        reply = self.ask("GRADIENT", "gradient")
        return float(reply[0]), np.array([r.split() for r in reply[1:]], dtype=float)

    def hessian(self) -> np.ndarray:
        """kcal/(mol·Å²), (3N, 3N)."""
        path = self.folder / HESSIAN_NAME
        self.ask(f"HESSIAN {path}", "Hessian")
        size = 3 * self.n_atoms
        return np.fromfile(path, dtype=np.float64).reshape(size, size)

    def minimize(self, rms_gradient: float, max_iterations: int) -> tuple[np.ndarray, float, int]:
        """Tinker's L-BFGS to an RMS gradient per atom; (coordinates, energy, calls)."""
        reply = self.ask(f"MINIMIZE {rms_gradient!r} {max_iterations}", "minimize")
        energy, calls = reply[0].split()
        return np.array([r.split() for r in reply[1:]], dtype=float), float(energy), int(calls)

    def close(self) -> None:
        """Ask the driver to quit (kill it if it does not), and close its pipe."""
        if self._process.poll() is None:
            try:
                self._process.stdin.write("QUIT\n")
                self._process.stdin.close()
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        try:
            self._process.stdin.close()
        except OSError:  # the pipe broke with the process; nothing left to flush
            pass
