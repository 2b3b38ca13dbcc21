"""Damaged real files: every reader either reads them or raises ParseError, nothing else.

Each example takes a real file and truncates it, shuffles a run of its lines, drops
or repeats a line, or overwrites a few bytes. Files whose readers ignore most of
their bulk are first cut to the parts the reader looks at (still real text), so the
damage lands where it matters.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from q2mm.errors import ParseError
from q2mm.io.gaussian import GaussianFchk, GaussianLog
from q2mm.io.jaguar import JaguarInput, JaguarOutput
from q2mm.io.macromodel import MaeFormat, MmoStructure, read_atom_typ, read_mmo
from q2mm.io.mol2 import Mol2Format
from q2mm.io.numpy_bundle import NumpyBundle
from q2mm.io.xyz import XyzFormat
from q2mm.model import Molecule

JAGUAR = Path("rh-enamide", "training_set", "jaguar_spe_freq_in_out")
TRAINING = Path("rh-enamide", "training_set")
_counter = itertools.count()


def _jaguar_input_core(text: str) -> str:
    """&gen, &zmat and &hess of the input, without the orbital guess the reader skips."""
    keep, lines, section = [], text.splitlines(), None
    for line in lines:
        if line.startswith("&") and line.strip() != "&":
            section = line.split()[0]
        if section in ("&gen", "&zmat", "&hess") or line.startswith("MAEFILE"):
            keep.append(line)
        if line.strip() == "&":
            section = None
    return "\n".join(keep) + "\n"


def _first_mmo_structure(text: str) -> str:
    lines = text.splitlines()
    starts = [i for i, t in enumerate(lines) if "BOND LENGTHS AND STRETCH ENERGIES" in t]
    return "\n".join(lines[: starts[1]]) + "\n"


CASES = {
    "gaussian-log-gs": (GaussianLog().read, "ethane/GS.log", None, ".log"),
    "gaussian-log-ts": (GaussianLog().read, "ethane/TS.log", None, ".log"),
    "gaussian-fchk": (GaussianFchk().read, "ethane/TS.fchk", None, ".fchk"),
    "jaguar-in": (
        JaguarInput().read,
        str(JAGUAR / "1ZDMPfromJCTCSI_loner1.01.in"),
        _jaguar_input_core,
        ".in",
    ),
    "jaguar-out": (JaguarOutput().read, str(JAGUAR / "1ZDMPfromJCTCSI_loner1.out"), None, ".out"),
    "xyz-plain": (XyzFormat().read, str(TRAINING / "raw_xyz" / "1_zdmp.xyz"), None, ".xyz"),
    "xyz-tinker": (XyzFormat().read, "tinker-sn2/sn2-ts.xyz", None, ".xyz"),
    "mol2": (Mol2Format().read, "ethane/TS.mol2", None, ".mol2"),
    "mol2-rh": (Mol2Format().read, str(TRAINING / "mol2" / "1_ZDMP_from_JCTC_SI.mol2"), None, ".mol2"),
    "mae": (MaeFormat().read, "rh-enamide/rh-hydrogenation-enamide-template.mae", None, ".mae"),
    "mmo": (read_mmo, str(TRAINING / "rh_enamide_training_set.mmo"), _first_mmo_structure, ".mmo"),
    "atom-typ": (read_atom_typ, "rh-enamide/atom.typ", None, ".typ"),
}


@st.composite
def damaged(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "shuffle", "drop", "repeat", "bytes"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "bytes":
        out = bytearray(data)
        # Half the hits land in the first 200 bytes, where headers live (the .npy's).
        end = draw(st.sampled_from([min(len(out), 200), len(out)]))
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, end - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    lines = data.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "drop":
        return b"".join(lines[:i] + lines[i + 1 :])
    if kind == "repeat":
        return b"".join(lines[: i + 1] + lines[i:])
    j = min(len(lines), i + draw(st.integers(2, 40)))
    window = draw(st.permutations(lines[i:j]))
    return b"".join(lines[:i] + list(window) + lines[j:])


def _check(result) -> None:
    assert isinstance(result, (list, dict))
    if isinstance(result, list):
        assert all(isinstance(item, (Molecule, MmoStructure)) for item in result)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_text_files_raise_only_parse_errors(case, data_dir, workdir, data):
    read, relative, trim, suffix = CASES[case]
    text = (data_dir / relative).read_bytes()
    if trim is not None:
        text = trim(text.decode()).encode()
    path = workdir / f"{case}-{next(_counter)}{suffix}"
    path.write_bytes(data.draw(damaged(text)))
    try:
        _check(read(path))
    except ParseError:
        pass


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_numpy_bundles_raise_only_parse_errors(data_dir, workdir, data):
    """One of the four bundle files is damaged (the .npy as bytes, like the rest)."""
    folder = workdir / f"bundle-{next(_counter)}"
    folder.mkdir()
    names = ["sn2-ts-hessian.npy", "sn2-ts-optimized.xyz", "sn2-ts-frequencies.txt", "sn2-ts-energy.txt"]
    target = data.draw(st.sampled_from(names))
    for name in names:
        content = (data_dir / "sn2-ts" / name).read_bytes()
        (folder / name).write_bytes(data.draw(damaged(content)) if name == target else content)
    try:
        _check(NumpyBundle().read(folder / "sn2-ts-hessian.npy"))
    except ParseError:
        pass
