"""Converting force fields between formats without silently dropping terms.

A term is lost when the target file cannot hold it: a row kind the format has no line
for, a convention it fixes differently (MM3's anharmonic series in a harmonic Amber
file), or a term the source file held only as text because no canonical row carries it
(MM3* bend-bend constants, Tinker's angle-angle terms, OpenMM custom forces). Writers
list these with :func:`lossy_terms` and refuse with
:class:`~q2mm.errors.ConversionLossError` unless the caller allows the loss.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ConversionLossError, UnknownPluginError
from ..model import Conventions, ForceField
from ..plugins import registry
from . import read_forcefield, write_forcefield


def source_terms(forcefield: ForceField, target: str) -> list[str]:
    """Terms kept only in the text of the file ``forcefield`` was read from, which a
    file of another format than that one cannot carry."""
    source = forcefield.source
    if source is None or source.format == target:
        return []
    try:
        fmt = registry().create("format", source.format)
    except UnknownPluginError:
        return [f"anything beyond rows in its {source.format} source (that format is not installed)"]
    unmodelled = getattr(fmt, "unmodelled", None)
    return [] if unmodelled is None else list(unmodelled(source))


#: Conventions fields grouped into the terms a reader would recognise.
_CONVENTION_GROUPS = (
    ("anharmonic bond terms", ("bond_cubic", "bond_quartic")),
    ("anharmonic angle terms", ("angle_cubic", "angle_quartic", "angle_pentic", "angle_sextic")),
    ("anharmonic out-of-plane terms", ("opbend_cubic", "opbend_quartic", "opbend_pentic", "opbend_sextic")),
    ("van der Waals form", ("vdw_form", "vdw_a", "vdw_b", "vdw_c")),
    (
        "1-2/1-3/1-4 scaling",
        ("vdw_scale_12", "vdw_scale_13", "vdw_scale_14", "elec_scale_12", "elec_scale_13", "elec_scale_14"),
    ),
    ("dielectric constant", ("dielectric",)),
)


#: The row kinds each convention acts on: a convention of terms the force field does
#: not have cannot be lost (a bonded-only estimate has no use for a dielectric).
_CONVENTION_KINDS = {
    "bond_": {"bond"},
    "angle_": {"angle"},
    "opbend_": {"opbend"},
    "vdw_": {"vdw", "vdw_pair"},
    "elec_": {"charge", "dipole"},
    "dielectric": {"charge", "dipole"},
}


def _acts_on(name: str, kinds: set[str]) -> bool:
    return any(name.startswith(prefix) and kinds & acted for prefix, acted in _CONVENTION_KINDS.items())


def convention_losses(
    forcefield: ForceField, fixed: Conventions, target: str, only: tuple[str, ...] = ()
) -> list[str]:
    """How the force field's conventions differ from those ``fixed`` that a target
    format cannot change, counting only conventions of terms the force field has (the
    Coulomb constant, a property of each program, is not compared). With ``only``,
    just those fields are fixed."""
    have, kinds = forcefield.conventions, forcefield.kinds()
    lost = []
    for label, names in _CONVENTION_GROUPS:
        names = tuple(n for n in names if (not only or n in only) and _acts_on(n, kinds))
        if names and any(not _same(getattr(have, n), getattr(fixed, n)) for n in names):
            if label == "van der Waals form" and have.vdw_form == fixed.vdw_form == "lennard-jones":
                continue  # the exp-6 constants mean nothing to a Lennard-Jones potential
            stated = ", ".join(f"{n} {getattr(have, n)!r}" for n in names)
            wanted = ", ".join(f"{getattr(fixed, n)!r}" for n in names)
            lost.append(f"{label} ({stated}; {target} holds {wanted})")
    return lost


def _same(a: float | str, b: float | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def lossy_terms(forcefield: ForceField, target_format_name: str) -> list[str]:
    """What writing ``forcefield`` in the named format would lose (empty: nothing)."""
    fmt = registry().create("format", target_format_name)
    losses = getattr(fmt, "losses", None)
    return [*source_terms(forcefield, fmt.name), *(losses(forcefield) if losses is not None else [])]


_SHOWN = 12


def refuse_loss(forcefield: ForceField, target: str, losses: list[str], allow_loss: bool) -> list[str]:
    """For writers: the full list of what would be lost, raising unless ``allow_loss``."""
    lost = [*source_terms(forcefield, target), *losses]
    if lost and not allow_loss:
        name = f" {forcefield.name!r}" if forcefield.name else ""
        shown = lost[:_SHOWN] + (
            [f"… and {len(lost) - _SHOWN} more (see lossy_terms)"] if len(lost) > _SHOWN else []
        )
        raise ConversionLossError(
            f"writing force field{name} as {target} would lose: "
            + "; ".join(shown)
            + " (allow the loss to write anyway)"
        )
    return lost


def convert(
    in_path: str | Path,
    out_path: str | Path,
    *,
    allow_loss: bool = False,
    in_format: str | None = None,
    out_format: str | None = None,
) -> list[str]:
    """Read a force field and write it in another format (chosen by name or suffix).
    Returns what was lost (only ever non-empty with ``allow_loss``)."""
    forcefield = read_forcefield(in_path, in_format)
    target = out_format or registry().by_suffix("format", str(out_path)).name
    lost = lossy_terms(forcefield, target)
    write_forcefield(forcefield, out_path, target, allow_loss=allow_loss)
    return lost
