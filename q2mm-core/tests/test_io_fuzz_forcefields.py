"""Damaged force-field files and Tinker outputs: the only error a reader may raise is
ParseError, and a damaged force field that still reads comes back byte for byte."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from q2mm.errors import ParseError
from q2mm.io import tinker_output
from q2mm.io.frcmod import Frcmod
from q2mm.io.mm3_fld import MM3Fld
from q2mm.io.openmm_xml import OpenMMXml
from q2mm.io.tinker_prm import TinkerPrm

FORCEFIELDS = Path(__file__).parent / "forcefields"

#: name → (where: "data" (the data_dir fixture), "tests" or "openmm"; relative path; reader;
#: the format that writes it back, or None for program outputs)
CASES: dict[str, tuple[str, str, Callable, object | None]] = {
    "mm3.fld": ("data", "rh-enamide/mm3.fld", MM3Fld().read, MM3Fld()),
    "start.fld": ("data", "rh-enamide/rh_hyd_enamide_start.fld", MM3Fld().read, MM3Fld()),
    "mm3-ch3f.prm": ("tests", "mm3-ch3f.prm", TinkerPrm().read, TinkerPrm()),
    "frcmod": ("tests", "thiohemiacetal-ts.frcmod", Frcmod().read, Frcmod()),
    "tip3p.xml": ("openmm", "tip3p.xml", OpenMMXml().read, OpenMMXml()),
    "analyze-D": ("data", "tinker-ch3f/analyze-D.txt", tinker_output.read_analyze, None),
    "analyze-sn2": ("data", "tinker-sn2/analyze-energy.txt", tinker_output.read_analyze, None),
    "vibrate-min": ("data", "tinker-ch3f/vibrate-min.txt", tinker_output.read_vibrate, None),
    "vibrate-sn2": ("data", "tinker-sn2/vibrate-output.txt", tinker_output.read_vibrate, None),
    "minimize": ("data", "tinker-ch3f/minimize.txt", tinker_output.read_minimize, None),
    "hessian": ("data", "tinker-ch3f/ch3f-min.hes", tinker_output.read_hessian, None),
    "mode-file": ("data", "tinker-sn2/sn2-ts.001", tinker_output.read_mode_frames, None),
}


def _path(name: str, data_dir: Path) -> Path:
    where, relative = CASES[name][:2]
    if where == "openmm":
        app = pytest.importorskip(
            "openmm.app", reason="OpenMM is not installed (it comes with q2mm-engine-openmm)"
        )
        return Path(app.__file__).parent / "data" / relative
    return {"data": data_dir, "tests": FORCEFIELDS}[where] / relative


#: The two large .fld files take ~30 ms a read; fewer examples keep the file under budget.
EXAMPLES = {"mm3.fld": 20, "start.fld": 20}


def _check(name: str, data: bytes, scratch: Path) -> None:
    _, relative, reader, fmt = CASES[name]
    suffix = Path(relative).suffix
    damaged = scratch / f"damaged{suffix}"
    damaged.write_bytes(data)
    try:
        result = reader(damaged)
    except ParseError as exc:
        assert exc.path == str(damaged)
        return
    if fmt is not None:  # it read: writing it unchanged must give the same bytes back
        fmt.write(result, scratch / f"again{suffix}")
        assert (scratch / f"again{suffix}").read_bytes() == data
        os.remove(scratch / f"again{suffix}")


# Strategies draw small edit descriptions (so failures print short) applied to the bytes.


def truncated(data: bytes):
    return st.integers(0, len(data)).map(lambda n: ("truncate", n))


def shuffled(data: bytes):
    """A window of lines put in another order (a whole-file shuffle fails on line 1)."""
    n_lines = data.count(b"\n") + 1
    return st.tuples(st.just("shuffle"), st.integers(0, max(n_lines - 2, 0)), st.permutations(range(12)))


def corrupted(data: bytes):
    alphabet = st.sampled_from([*b" \n\t-.0123456789eEDCx*#<>\"'=/", 0xFF, 0xC3, 0x00])
    edit = st.tuples(st.integers(0, len(data) - 1), st.booleans(), alphabet)
    return st.tuples(st.just("corrupt"), st.lists(edit, min_size=1, max_size=6))


def _apply(data: bytes, edit) -> bytes:
    if edit[0] == "truncate":
        return data[: edit[1]]
    if edit[0] == "shuffle":
        lines = data.splitlines(keepends=True)
        start, order = edit[1], edit[2]
        window = lines[start : start + 12]
        moved = [window[i] for i in order if i < len(window)]
        return b"".join([*lines[:start], *moved, *lines[start + 12 :]])
    out = bytearray(data)
    for at, replace, byte in edit[1]:
        at = min(at, len(out) - 1)
        if replace:
            out[at] = byte
        else:
            del out[at]
    return bytes(out)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("damage", [truncated, shuffled, corrupted])
def test_damaged_files_raise_only_parse_errors(name, damage, data_dir, tmp_path):
    data = _path(name, data_dir).read_bytes()

    @settings(
        max_examples=EXAMPLES.get(name, 50), deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(damage(data))
    def run(edit) -> None:
        _check(name, _apply(data, edit), tmp_path)

    run()


@pytest.mark.parametrize("name", list(CASES))
def test_the_undamaged_files_read(name, data_dir):
    assert CASES[name][2](_path(name, data_dir)) is not None
