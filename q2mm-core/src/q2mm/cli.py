"""The ``q2mm`` command.

User mistakes (bad files, bad configuration, unknown plugin names) are one line on
stderr and exit code 2 — no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import attrs
import click

from . import __version__, config
from .cli_support import plugins_in_use, user_errors
from .estimate import Method
from .model import StationaryPoint

#: ``q2mm run --require-quality``: the fit ran but its quality verdict is poor.
EXIT_POOR_QUALITY = 3


def _result_options(command):
    """--json and --require-quality: what every command that produces a result takes."""
    command = click.option(
        "--require-quality",
        is_flag=True,
        help=f"Exit with code {EXIT_POOR_QUALITY} when the quality verdict is poor.",
    )(command)
    return click.option("--json", "as_json", is_flag=True, help="Print result.json to stdout at the end.")(
        command
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="q2mm")
def main() -> None:
    """Fit molecular-mechanics force fields to quantum-chemistry data."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@user_errors
def plugins(as_json: bool) -> None:
    """List installed plugins: what each offers and whether it loaded."""
    from .plugins import CATEGORIES

    reg = plugins_in_use()
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
                    "category": r.category,
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
    for category in CATEGORIES:
        rows = [r for r in records if r.category == category]
        if not rows:
            continue
        click.echo(f"{category}s:")
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
@_result_options
@user_errors
def run(
    config: Path, engine, optimizer, output, resume: bool, quiet: bool, as_json: bool, require_quality: bool
) -> None:
    """Fit a force field as CONFIG (a q2mm.toml) describes."""
    from .config import load_config
    from .run import Progress, run_fit

    cfg = load_config(config)
    overrides = {k: v for k, v in {"engine": engine, "optimizer": optimizer}.items() if v}
    if output is not None:
        overrides["output"] = output.resolve()
    progress = Progress(enabled=not quiet and not as_json)
    result = run_fit(cfg, overrides=overrides, resume=resume, progress=progress, plugins=plugins_in_use())
    _finish(result, quiet, as_json, require_quality)


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--forcefield",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Force field to score (default: the configuration's start); only read, never written.",
)
@click.option("--output", type=click.Path(path_type=Path), help="Result folder (default: OUTPUT-evaluate).")
@click.option("--quiet", is_flag=True, help="No table at the end.")
@_result_options
@user_errors
def evaluate(config: Path, forcefield, output, quiet: bool, as_json: bool, require_quality: bool) -> None:
    """Score a force field against CONFIG's QM data without fitting: the metrics,
    verdict and report of a fit, no optimizer."""
    from .config import load_config
    from .run import evaluate_forcefield

    cfg = load_config(config)
    result = evaluate_forcefield(
        cfg, forcefield, output.resolve() if output is not None else None, plugins=plugins_in_use()
    )
    _finish(result, quiet, as_json, require_quality)


@main.command()
@click.argument("result_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Report file (default: RESULT_DIR/report.html)."
)
@user_errors
def report(result_dir: Path, output) -> None:
    """Write the HTML report of a result folder (no engine needed)."""
    from .report.page import write_report

    click.echo(f"wrote {write_report(result_dir, output)}")


def _finish(result: dict, quiet: bool, as_json: bool, require_quality: bool) -> None:
    """The end of a run or an evaluation: JSON or the closing table, then the exit
    code (1: the fit failed; 3: poor quality, when asked)."""
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif not quiet:
        click.echo(summary(result))
    if result["status"] == "failed":
        sys.exit(1)
    if require_quality and result["quality"] != "good":
        sys.exit(EXIT_POOR_QUALITY)


_COLUMNS = (
    ("R²", "eigenmatrix_diagonal_r2", "{:.4f}"),
    ("freq MAE cm⁻¹", "frequency_mae_cm1", "{:.1f}"),
    ("bond Å", "bond_rmsd_angstrom", "{:.4f}"),
    ("angle °", "angle_rmsd_degree", "{:.2f}"),
    ("dihedral °", "dihedral_rmsd_degree", "{:.2f}"),
    ("lowest ν cm⁻¹", "lowest_mm_frequency_cm1", "{:.0f}"),
)


def _cell(metrics: dict, key: str, fmt: str) -> str:
    return "-" if metrics.get(key) is None else fmt.format(metrics[key])


def summary(result: dict, width: int = 200) -> str:
    """The closing table: each structure's metrics and verdict, the pooled metrics as
    'overall', the reasons; then the optimizer's status and the quality together — a
    poor fit is never announced as just 'converged' — and where the files are."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("structure", no_wrap=True)
    for header, _, _ in _COLUMNS:
        table.add_column(header, justify="right")
    table.add_column("quality")
    for s in result["structures"]:
        quality = "poor" if s["reasons"] else "good"
        table.add_row(s["name"] or "", *(_cell(s["metrics"], k, f) for _, k, f in _COLUMNS), quality)
    table.add_row("overall", *(_cell(result["metrics"], k, f) for _, k, f in _COLUMNS), result["quality"])
    console = Console(width=width, color_system=None, force_terminal=False, file=io.StringIO())
    with console.capture() as capture:
        console.print(table)
    lines = [line.rstrip() for line in capture.get().splitlines() if line.strip()]
    lines += [f"  {reason}" for reason in result["quality_reasons"]]
    score = result["score"]
    initial = "-" if score["initial"] is None else f"{score['initial']:.6g}"
    final = "-" if score["final"] is None else f"{score['final']:.6g}"
    status = f"{result['status']}, quality {result['quality']}"
    lines.append(f"{status}: score {initial} -> {final}")
    output = Path(result["output"])
    if result["files"]:
        lines.append("force field: " + ", ".join(str(output / f) for f in result["files"]))
    if result.get("report"):
        lines.append(f"report: {output / result['report']}")
    lines.append(f"results in {output}")
    return "\n".join(lines)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--from", "in_format", help="Input format name (default: from the suffix).")
@click.option("--to", "out_format", help="Output format name (default: from the suffix).")
@click.option("--allow-loss", is_flag=True, help="Write even if the target format drops terms.")
@user_errors
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
    "--method", type=click.Choice(config.ESTIMATE_METHODS), default=Method.QFUERZA.value, show_default=True
)
@click.option(
    "--ts-method",
    type=click.Choice(config.TS_METHODS),
    default=attrs.fields(config.RunConfig).ts_method.default,
    show_default=True,
)
@click.option(
    "--kind",
    type=click.Choice(config.STATIONARY_KINDS),
    default=StationaryPoint.GROUND_STATE.value,
    show_default=True,
    help="Stationary-point kind of every QM structure given.",
)
@click.option(
    "--form",
    type=click.Choice(config.FORMS),
    help=f"Functional form (default: {attrs.fields(config.ForceFieldSpec).form.default}, "
    "or the form the output format can hold).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output force field; its suffix picks the format.",
)
@user_errors
def estimate(qm_files, template, method, ts_method, kind, form, output) -> None:
    """Estimate force constants from QM Hessians (Seminario / QFUERZA)."""
    from .errors import ConfigError
    from .estimate import estimate_forcefield
    from .io import read_forcefield, read_structures, write_forcefield
    from .model import FunctionalForm
    from .stationary import check_declared

    molecules = []
    for path in qm_files:
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        for molecule in read_structures(path):
            molecule = molecule.with_(stationary_point=StationaryPoint(kind))
            check_declared(molecule, str(path))
            molecules.append(molecule)
    tmpl = read_forcefield(template) if template else None

    def estimated(chosen: str):
        return estimate_forcefield(
            molecules, template=tmpl, method=method, ts_method=ts_method, form=FunctionalForm(chosen)
        )

    ff, note = (estimated(form), "") if form else _estimate_in_a_form_the_output_holds(estimated, output)
    write_forcefield(ff, output)
    click.echo(f"wrote {output} ({len(ff.rows)} rows from {len(molecules)} structures){note}")


def _estimate_in_a_form_the_output_holds(estimated, output: Path):
    """Without ``--form``: the default form, or else the first the output's format can
    hold without loss (frcmod holds harmonic terms only) — and a note saying so."""
    from .io.conversion import lossy_terms

    fmt = plugins_in_use().by_suffix("format", str(output)).name
    default = attrs.fields(config.ForceFieldSpec).form.default
    for form in (default, *(f for f in config.FORMS if f != default)):
        ff = estimated(form)
        if not lossy_terms(ff, fmt):
            note = "" if form == default else f"; form {form}: {fmt} cannot hold {default} terms"
            return ff, note
    return estimated(default), ""


from .cli_qm import qm as _qm  # noqa: E402 - registered last: cli_qm uses user_errors

main.add_command(_qm)
