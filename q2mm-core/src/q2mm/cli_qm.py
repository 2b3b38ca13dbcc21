"""``q2mm qm``: QM reference data from a structure file through a ``qm`` plugin.

Kept in its own module and registered onto :data:`q2mm.cli.main`, so the command
imports no QM program until it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_support import plugins_in_use, user_errors


@click.command()
@click.argument("input_file", metavar="INPUT.xyz", type=click.Path(path_type=Path))
@click.option(
    "--method", default="B3LYP", show_default=True, help="HF or an exchange-correlation functional."
)
@click.option("--basis", default="6-31G*", show_default=True)
@click.option("--charge", type=int, default=0, show_default=True)
@click.option("--multiplicity", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--kind",
    type=click.Choice(["ground_state", "transition_state"]),
    default="ground_state",
    show_default=True,
    help="Declared stationary-point kind: checked against the Hessian's imaginary modes.",
)
@click.option("--optimize", is_flag=True, help="Optimize first (minimum, or TS search for transition_state).")
@click.option("--program", default="pyscf", show_default=True, help="Name of the installed qm plugin.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print meta.json to stdout at the end.")
@user_errors
def qm(input_file, method, basis, charge, multiplicity, kind, optimize, program, output, quiet, as_json):
    """Optimize (optionally) and compute the Hessian of INPUT.xyz; write q2mm's NumPy
    bundle (-optimized.xyz, -hessian.npy, -frequencies.txt, -energy.txt) and meta.json
    into the output folder. A repeated identical call reuses the folder's cache."""
    from .errors import ConfigError
    from .protocols import QMRequest

    if not input_file.is_file():
        raise ConfigError(f"{input_file}: file not found")
    qm_program = plugins_in_use().create("qm", program, progress=not quiet and not as_json)
    request = QMRequest(input_file, method, basis, charge, multiplicity, kind, optimize)
    result = qm_program.run(request, output)
    if as_json:
        click.echo(json.dumps(result.meta, indent=2))
        return
    meta = result.meta
    click.echo(
        f"wrote {result.hessian_path} ({meta['method']}/{meta['basis']}, "
        f"E = {meta['energy_hartree']:.10f} Eh, "
        f"{meta['n_imaginary']} imaginary mode(s){', cached' if result.cached else ''})"
    )
