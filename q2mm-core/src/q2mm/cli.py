"""The ``q2mm`` command.

User mistakes (bad files, bad configuration, unknown plugin names) are one line on
stderr and exit code 2 — no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import Q2MMError

EXIT_USER_ERROR = 2


def _user_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Q2MMError as exc:
            click.echo(f"q2mm: error: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="q2mm")
def main() -> None:
    """Fit molecular-mechanics force fields to quantum-chemistry data."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_user_errors
def plugins(as_json: bool) -> None:
    """List installed plugins: what each offers and whether it loaded."""
    from .plugins import registry

    reg = registry()
    records = reg.records()
    if as_json:
        payload = {
            "plugins": [
                {
                    "name": s.name,
                    "distribution": s.distribution,
                    "version": s.version,
                    "status": s.status,
                    "reason": s.reason,
                }
                for s in reg.statuses
            ],
            "records": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "plugin": r.plugin,
                    "distribution": r.distribution,
                    "version": r.version,
                    "capabilities": sorted(r.capabilities),
                    "suffixes": list(r.suffixes),
                    "factory": r.factory,
                    "description": r.description,
                    "status": "ok",
                }
                for r in records
            ],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo("plugins:")
    for s in reg.statuses:
        extra = f"  ({s.reason})" if s.reason else ""
        click.echo(f"  {s.name:<12} {s.distribution} {s.version}  [{s.status}]{extra}")
    for kind in ("engine", "optimizer", "residual", "format", "reader", "executor", "qm"):
        rows = [r for r in records if r.kind == kind]
        if not rows:
            continue
        click.echo(f"{kind}s:")
        for r in rows:
            caps = f"  [{', '.join(sorted(r.capabilities))}]" if r.capabilities else ""
            sfx = f"  ({' '.join(r.suffixes)})" if r.suffixes else ""
            click.echo(f"  {r.name:<24} {r.distribution} {r.version}{caps}{sfx}")


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--engine", help="Engine plugin name (overrides the file).")
@click.option("--optimizer", help="Optimizer plugin name (overrides the file).")
@click.option("--output", type=click.Path(path_type=Path), help="Result folder (overrides the file).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in the result folder.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True, help="Print result.json to stdout at the end.")
@_user_errors
def run(config: Path, engine, optimizer, output, resume: bool, quiet: bool, as_json: bool) -> None:
    """Fit a force field as CONFIG (a q2mm.toml) describes."""
    from .config import load_config
    from .runner import Progress, run_fit

    cfg = load_config(config)
    overrides = {k: v for k, v in {"engine": engine, "optimizer": optimizer}.items() if v}
    if output is not None:
        overrides["output"] = output.resolve()
    progress = Progress(enabled=not quiet and not as_json)
    result = run_fit(cfg, overrides=overrides, resume=resume, progress=progress)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif not quiet:
        click.echo(
            f"{result['status']}: score {result['score']['initial']:.6g} -> {result['score']['final']:.6g}; "
            f"results in {result['output']}"
        )
    if result["status"] == "failed":
        sys.exit(1)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--from", "in_format", help="Input format name (default: from the suffix).")
@click.option("--to", "out_format", help="Output format name (default: from the suffix).")
@click.option("--allow-loss", is_flag=True, help="Write even if the target format drops terms.")
@_user_errors
def convert(source: Path, target: Path, in_format, out_format, allow_loss: bool) -> None:
    """Convert a force field between formats (refuses to drop terms silently)."""
    from .errors import ConfigError
    from .io.conversion import convert as do_convert

    if not source.is_file():
        raise ConfigError(f"{source}: file not found")
    do_convert(source, target, allow_loss=allow_loss, in_format=in_format, out_format=out_format)
    click.echo(f"wrote {target}")


@main.command()
@click.argument("qm_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--template", type=click.Path(path_type=Path), help="Force field whose rows are filled.")
@click.option(
    "--method",
    type=click.Choice(["qfuerza", "fuerza", "gamma-fuerza", "defaults"]),
    default="qfuerza",
    show_default=True,
)
@click.option("--ts-method", type=click.Choice(["C", "D", "E"]), default="C", show_default=True)
@click.option(
    "--kind",
    type=click.Choice(["ground_state", "transition_state"]),
    default="ground_state",
    show_default=True,
    help="Stationary-point kind of every QM structure given.",
)
@click.option("--form", type=click.Choice(["harmonic", "mm3"]), default="mm3", show_default=True)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output force field; its suffix picks the format.",
)
@_user_errors
def estimate(qm_files, template, method, ts_method, kind, form, output) -> None:
    """Estimate force constants from QM Hessians (Seminario / QFUERZA)."""
    from .errors import ConfigError
    from .estimate import estimate_forcefield
    from .io import read_forcefield, read_structures, write_forcefield
    from .model import FunctionalForm, StationaryKind

    molecules = []
    for path in qm_files:
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        molecules.extend(m.with_(kind=StationaryKind(kind)) for m in read_structures(path))
    tmpl = read_forcefield(template) if template else None
    ff = estimate_forcefield(
        molecules, template=tmpl, method=method, ts_method=ts_method, form=FunctionalForm(form)
    )
    write_forcefield(ff, output)
    click.echo(f"wrote {output} ({len(ff.rows)} rows from {len(molecules)} structures)")


from .cli_qm import qm as _qm  # noqa: E402 - registered last: cli_qm uses _user_errors

main.add_command(_qm)
