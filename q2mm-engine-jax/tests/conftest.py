"""Fixtures of the JAX engine tests: one engine per run (it enables float64 and the
persistent compilation cache) and MM systems built by hand — CH₃F with the MM3
parameters Tinker applied (data/tinker-ch3f/parameters.md), the S_N2 transition state
with a TS-like MM3 force field, and ethane with every term family (nonbonded pairs,
vdW reduction, bond dipoles, charges). Parameter vectors are real ForceField vectors
in canonical units; slots come from ForceField.slot_index(), as topology assignment
would produce them."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from q2mm.model import Conventions, ForceField, FunctionalForm, MMSystem, Molecule, Nonbonded, Row, TermSet
from q2mm.model.units import MDYN_A_RAD2_TO_KCALMOL_RAD2, MDYN_A_TO_KCALMOL_A2, MDYN_RAD_TO_KCALMOL_A_RAD

DEG = math.pi / 180.0


def read_tinker_xyz(path: Path) -> Molecule:
    lines = Path(path).read_text().splitlines()
    rows = [line.split() for line in lines[1 : 1 + int(lines[0].split()[0])]]
    return Molecule([r[1] for r in rows], [[float(v) for v in r[2:5]] for r in rows], name=Path(path).stem)


def read_xyz(path: Path) -> Molecule:
    lines = Path(path).read_text().splitlines()
    rows = [line.split() for line in lines[2 : 2 + int(lines[0])]]
    return Molecule([r[0] for r in rows], [[float(v) for v in r[1:4]] for r in rows], name=Path(path).stem)


def read_mol2(path: Path) -> tuple[Molecule, list[tuple[int, int]]]:
    text = Path(path).read_text()
    atoms = text.split("@<TRIPOS>ATOM")[1].split("@<TRIPOS>")[0].split("\n")
    rows = [a.split() for a in atoms if a.strip()]
    bonds_text = text.split("@<TRIPOS>BOND")[1].split("@<TRIPOS>")[0].split("\n")
    bonds = [(int(b.split()[1]) - 1, int(b.split()[2]) - 1) for b in bonds_text if b.strip()]
    mol = Molecule([r[1][0] for r in rows], [[float(v) for v in r[2:5]] for r in rows], name=Path(path).stem)
    return mol, bonds


def _slots(ff: ForceField, *pids: str) -> list[int]:
    index = ff.slot_index()
    return [index[p] for p in pids]


def _termset(ff: ForceField, kind: str, atoms, keys, fields, constants=None) -> TermSet:
    """``keys`` gives, per term, one row key per field (or one key for all fields)."""
    slots = []
    for key in keys:
        per_field = key if isinstance(key, tuple) else (key,) * len(fields)
        slots.append(
            _slots(ff, *(f"{k}.{f}" if "." not in k else k for k, f in zip(per_field, fields, strict=True)))
        )
    return TermSet(kind, atoms, slots, fields, constants or {})


def _empty_nonbonded(ff: ForceField, vdw_keys: list[str], partner: list[int]) -> Nonbonded:
    index = ff.slot_index()
    vdw = [[index[f"{k}.radius"], index[f"{k}.epsilon"], index.get(f"{k}.reduction", -1)] for k in vdw_keys]
    return Nonbonded(vdw, partner, [-1] * len(vdw_keys), np.zeros((0, 2)), [], [], np.zeros((0, 2)))


# --- CH3F with Tinker's MM3 parameters -------------------------------------------------


def ch3f_tinker_forcefield() -> ForceField:
    """parameters.md in canonical units; r0(C–H) carries the electronegativity
    correction Tinker applied (1.1120 − 0.0076 = 1.1044 Å)."""
    return ForceField(
        FunctionalForm.MM3,
        [
            Row("bond", ("1", "5"), {"k": 4.740 * MDYN_A_TO_KCALMOL_A2, "r0": 1.1044}, key="CH"),
            Row("bond", ("1", "11"), {"k": 5.900 * MDYN_A_TO_KCALMOL_A2, "r0": 1.3900}, key="CF"),
            Row(
                "angle",
                ("5", "1", "5"),
                {"k": 0.550 * MDYN_A_RAD2_TO_KCALMOL_RAD2, "theta0": 107.80 * DEG},
                key="HCH",
            ),
            Row(
                "angle",
                ("5", "1", "11"),
                {"k": 0.720 * MDYN_A_RAD2_TO_KCALMOL_RAD2, "theta0": 107.00 * DEG},
                key="HCF",
            ),
            Row(
                "strbnd",
                ("5", "1", "11"),
                {"k1": 0.080 * MDYN_RAD_TO_KCALMOL_A_RAD, "k2": 0.080 * MDYN_RAD_TO_KCALMOL_A_RAD},
                key="SB",
            ),
            Row("dipole", ("1", "11"), {"moment": 1.82, "position": 0.5}, key="DCF"),
            Row("vdw", ("1",), {"radius": 2.04, "epsilon": 0.027}, key="vC"),
            Row("vdw", ("5",), {"radius": 1.62, "epsilon": 0.020, "reduction": 0.923}, key="vH"),
            Row("vdw", ("11",), {"radius": 1.71, "epsilon": 0.075}, key="vF"),
        ],
        conventions=Conventions.mm3(),
        name="mm3-ch3f",
    )


def ch3f_system(molecule: Molecule, ff: ForceField | None = None) -> MMSystem:
    """Atoms C0 F1 H2 H3 H4 (the order of every CH₃F file in data/)."""
    ff = ff or ch3f_tinker_forcefield()
    hs = (2, 3, 4)
    terms = {
        "bond": _termset(ff, "bond", [(0, 1)] + [(0, h) for h in hs], ["CF", "CH", "CH", "CH"], ("k", "r0")),
        "angle": _termset(
            ff,
            "angle",
            [(a, 0, b) for a, b in itertools.combinations(hs, 2)] + [(1, 0, h) for h in hs],
            ["HCH"] * 3 + ["HCF"] * 3,
            ("k", "theta0"),
        ),
        "strbnd": _termset(
            ff,
            "strbnd",
            [(1, 0, h) for h in hs],
            [("SB", "SB", "CF.r0", "CH.r0", "HCF.theta0")] * 3,
            ("k1", "k2", "r1_0", "r2_0", "theta0"),
        ),
        "dipole": _termset(ff, "dipole", [(0, 1)], ["DCF"], ("moment", "position")),
    }
    nonbonded = _empty_nonbonded(ff, ["vC", "vF", "vH", "vH", "vH"], [-1, -1, 0, 0, 0])
    return MMSystem(molecule, ff.form, ff.conventions, terms, nonbonded, n_parameters=len(ff.vector()))


# --- S_N2 transition state F–CH3–F ------------------------------------------------------


def sn2_forcefield() -> ForceField:
    """A TS-like MM3 force field: partial C···F bonds at 1.85 Å, F–C–F linear, H–C–F
    at 90°, planar CH3; constants of the size Seminario estimates give. It holds every
    row CH₃F needs too, so both structures can share it (batches)."""
    return ForceField(
        FunctionalForm.MM3,
        [
            Row("bond", ("1", "5"), {"k": 4.9 * MDYN_A_TO_KCALMOL_A2, "r0": 1.070}, key="CH"),
            Row("bond", ("1", "11"), {"k": 0.9 * MDYN_A_TO_KCALMOL_A2, "r0": 1.84}, key="CF"),
            Row(
                "angle",
                ("11", "1", "11"),
                {"k": 0.35 * MDYN_A_RAD2_TO_KCALMOL_RAD2, "theta0": 180.0 * DEG},
                key="FCF",
            ),
            Row(
                "angle",
                ("5", "1", "11"),
                {"k": 0.45 * MDYN_A_RAD2_TO_KCALMOL_RAD2, "theta0": 91.0 * DEG},
                key="HCF",
            ),
            Row(
                "angle",
                ("5", "1", "5"),
                {"k": 0.40 * MDYN_A_RAD2_TO_KCALMOL_RAD2, "theta0": 119.0 * DEG},
                key="HCH",
            ),
            Row(
                "strbnd",
                ("5", "1", "11"),
                {"k1": 0.06 * MDYN_RAD_TO_KCALMOL_A_RAD, "k2": 0.09 * MDYN_RAD_TO_KCALMOL_A_RAD},
                key="SB",
            ),
            Row("dipole", ("1", "11"), {"moment": 1.82, "position": 0.5}, key="DCF"),
            Row("vdw", ("1",), {"radius": 2.04, "epsilon": 0.027}, key="vC"),
            Row("vdw", ("5",), {"radius": 1.62, "epsilon": 0.020, "reduction": 0.923}, key="vH"),
            Row("vdw", ("11",), {"radius": 1.71, "epsilon": 0.075}, key="vF"),
        ],
        conventions=Conventions.mm3(),
        name="sn2-ts",
    )


def sn2_system(molecule: Molecule, ff: ForceField | None = None) -> MMSystem:
    """Atoms C0 F1 F2 H3 H4 H5 (data/sn2-ts)."""
    ff = ff or sn2_forcefield()
    fs, hs = (1, 2), (3, 4, 5)
    terms = {
        "bond": _termset(
            ff, "bond", [(0, f) for f in fs] + [(0, h) for h in hs], ["CF"] * 2 + ["CH"] * 3, ("k", "r0")
        ),
        "angle": _termset(
            ff,
            "angle",
            [(1, 0, 2)]
            + [(f, 0, h) for f in fs for h in hs]
            + [(a, 0, b) for a, b in itertools.combinations(hs, 2)],
            ["FCF"] + ["HCF"] * 6 + ["HCH"] * 3,
            ("k", "theta0"),
        ),
        "strbnd": _termset(
            ff,
            "strbnd",
            [(f, 0, h) for f in fs for h in hs],
            [("SB", "SB", "CF.r0", "CH.r0", "HCF.theta0")] * 6,
            ("k1", "k2", "r1_0", "r2_0", "theta0"),
        ),
        "dipole": _termset(ff, "dipole", [(0, f) for f in fs], ["DCF"] * 2, ("moment", "position")),
    }
    nonbonded = _empty_nonbonded(ff, ["vC", "vF", "vF", "vH", "vH", "vH"], [-1, -1, -1, 0, 0, 0])
    return MMSystem(molecule, ff.form, ff.conventions, terms, nonbonded, n_parameters=len(ff.vector()))


# --- ethane with every term family --------------------------------------------------------


def ethane_forcefield(form: FunctionalForm) -> ForceField:
    """MM3-like ethane constants, plus terms no real ethane force field has (an
    improper, an out-of-plane bend, Urey–Bradley, charges or bond dipoles) so that every
    family is exercised on a real geometry."""
    mm3 = form == FunctionalForm.MM3
    rows = [
        Row("bond", ("1", "5"), {"k": 4.74 * MDYN_A_TO_KCALMOL_A2, "r0": 1.112}, key="CH"),
        Row("bond", ("1", "1"), {"k": 4.49 * MDYN_A_TO_KCALMOL_A2, "r0": 1.5247}, key="CC"),
        Row(
            "angle",
            ("5", "1", "5"),
            {"k": 0.55 * MDYN_A_RAD2_TO_KCALMOL_RAD2, "theta0": 107.6 * DEG},
            key="HCH",
        ),
        Row(
            "angle",
            ("1", "1", "5"),
            {"k": 0.59 * MDYN_A_RAD2_TO_KCALMOL_RAD2, "theta0": 109.8 * DEG},
            key="CCH",
        ),
        Row(
            "strbnd",
            ("1", "1", "5"),
            {"k1": 0.09 * MDYN_RAD_TO_KCALMOL_A_RAD, "k2": 0.07 * MDYN_RAD_TO_KCALMOL_A_RAD},
            key="SB",
        ),
        Row("urey_bradley", ("5", "1", "5"), {"k": 12.0, "r0": 1.79}, key="UB"),
        Row(
            "torsion",
            ("5", "1", "1", "5"),
            {"k1": 0.0, "k2": 0.0, "k3": 0.119, "phase1": 0.0, "phase2": math.pi, "phase3": 0.0},
            key="T",
        ),
        Row("improper", ("1", "5", "5", "5"), {"k": 3.0, "phi0": 0.62}, key="IMP"),
        Row("opbend", ("5", "1", "5", "1"), {"k": 0.05 * MDYN_A_RAD2_TO_KCALMOL_RAD2}, key="OOP"),
        Row("vdw", ("1",), {"radius": 2.04, "epsilon": 0.027}, key="vC"),
        Row(
            "vdw",
            ("5",),
            {"radius": 1.62, "epsilon": 0.020, **({"reduction": 0.923} if mm3 else {})},
            key="vH",
        ),
    ]
    if mm3:
        rows.append(Row("dipole", ("1", "5"), {"moment": 0.35, "position": 0.4}, key="D"))
    else:
        rows += [Row("charge", ("1",), {"q": -0.18}, key="qC"), Row("charge", ("5",), {"q": 0.06}, key="qH")]
    conventions = Conventions.mm3() if mm3 else Conventions(vdw_scale_14=0.5, elec_scale_14=0.8333)
    return ForceField(form, rows, conventions=conventions, name=f"ethane-{form}")


def ethane_system(molecule: Molecule, bonds, ff: ForceField) -> MMSystem:
    from q2mm.topology.perception import Topology

    topo = Topology.from_bonds(molecule.n_atoms, bonds)
    carbon = [i for i, e in enumerate(molecule.elements) if e == "C"]
    index = ff.slot_index()
    mm3 = ff.form == FunctionalForm.MM3

    def kind(*atoms):
        return "".join("C" if a in carbon else "H" for a in atoms)

    bonds_ = list(topo.bonds)
    angles = list(topo.angles)
    hch = [a for a in angles if kind(*a) == "HCH"]
    terms = {
        "bond": _termset(
            ff, "bond", bonds_, ["CC" if kind(*b) == "CC" else "CH" for b in bonds_], ("k", "r0")
        ),
        "angle": _termset(
            ff, "angle", angles, ["HCH" if kind(*a) == "HCH" else "CCH" for a in angles], ("k", "theta0")
        ),
        "strbnd": _termset(
            ff,
            "strbnd",
            [a if a[0] in carbon else a[::-1] for a in angles if kind(*a) != "HCH"],
            [("SB", "SB", "CC.r0", "CH.r0", "CCH.theta0")] * sum(kind(*a) != "HCH" for a in angles),
            ("k1", "k2", "r1_0", "r2_0", "theta0"),
        ),
        "urey_bradley": _termset(ff, "urey_bradley", hch, ["UB"] * len(hch), ("k", "r0")),
        "torsion": TermSet(
            "torsion",
            [t for t in topo.torsions for _ in range(3)],
            [[index[f"T.k{n}"], index[f"T.phase{n}"]] for _ in topo.torsions for n in (1, 2, 3)],
            ("k", "phase"),
            {"periodicity": [n for _ in topo.torsions for n in (1, 2, 3)]},
        ),
    }
    c0, c1 = carbon
    h0 = [h for h in topo.neighbours[c0] if h != c1]
    terms["improper"] = _termset(ff, "improper", [(c0, *h0)], ["IMP"], ("k", "phi0"))
    terms["opbend"] = _termset(
        ff, "opbend", [(h0[0], c0, h0[1], c1), (h0[1], c0, h0[2], c1)], ["OOP"] * 2, ("k",)
    )
    if mm3:
        ch = [b if b[0] in carbon else b[::-1] for b in bonds_ if kind(*b) != "CC"]
        terms["dipole"] = _termset(ff, "dipole", ch, ["D"] * len(ch), ("moment", "position"))
    vdw_key = ["vC" if i in carbon else "vH" for i in range(molecule.n_atoms)]
    vdw = [[index[f"{k}.radius"], index[f"{k}.epsilon"], index.get(f"{k}.reduction", -1)] for k in vdw_key]
    partner = [-1 if i in carbon else topo.neighbours[i][0] for i in range(molecule.n_atoms)]
    charges = (
        [-1] * molecule.n_atoms
        if mm3
        else [index["qC.q" if i in carbon else "qH.q"] for i in range(molecule.n_atoms)]
    )
    cv = ff.conventions
    distance = topo.bond_distances(3)
    pairs, svdw, selec = [], [], []
    for i, j in itertools.combinations(range(molecule.n_atoms), 2):
        d = distance.get((i, j), 4)
        v = {1: cv.vdw_scale_12, 2: cv.vdw_scale_13, 3: cv.vdw_scale_14}.get(d, 1.0)
        e = {1: cv.elec_scale_12, 2: cv.elec_scale_13, 3: cv.elec_scale_14}.get(d, 1.0)
        if v or e:
            pairs.append((i, j))
            svdw.append(v)
            selec.append(e)
    override = -np.ones((len(pairs), 2), dtype=int)
    nonbonded = Nonbonded(vdw, partner, charges, pairs, svdw, selec, override)
    return MMSystem(molecule, ff.form, cv, terms, nonbonded, n_parameters=len(ff.vector()))


@pytest.fixture(scope="session")
def engine():
    from q2mm_engine_jax.engine import JaxEngine

    return JaxEngine()


@pytest.fixture(scope="session")
def ch3f(data_dir, engine):
    """(system, values): CH₃F at the B3LYP geometry Tinker analysed, Tinker's MM3 parameters."""
    ff = ch3f_tinker_forcefield()
    return ch3f_system(read_tinker_xyz(data_dir / "tinker-ch3f" / "ch3f.xyz"), ff), ff.vector()


@pytest.fixture(scope="session")
def sn2(data_dir, engine):
    """(system, values): the F⁻ + CH₃F S_N2 transition state with a TS-like MM3 force field."""
    ff = sn2_forcefield()
    return sn2_system(read_xyz(data_dir / "sn2-ts" / "sn2-ts-optimized.xyz"), ff), ff.vector()


def _ethane(data_dir, form):
    molecule, bonds = read_mol2(data_dir / "ethane" / "GS.mol2")
    ff = ethane_forcefield(form)
    return ethane_system(molecule, bonds, ff), ff.vector()


@pytest.fixture(scope="session")
def ethane_mm3(data_dir, engine):
    """(system, values): ethane with every term family, MM3: Buckingham vdW with H
    reduction, bond dipoles."""
    return _ethane(data_dir, FunctionalForm.MM3)


@pytest.fixture(scope="session")
def ethane_harmonic(data_dir, engine):
    """(system, values): ethane with every term family, harmonic: Lennard-Jones, point
    charges, 1-4 pairs scaled."""
    return _ethane(data_dir, FunctionalForm.HARMONIC)


@pytest.fixture(scope="session")
def mixed(data_dir, engine):
    """([CH₃F, S_N2 TS], values): two topologies on one force field."""
    ff = sn2_forcefield()
    ch3f = ch3f_system(read_xyz(data_dir / "ch3f" / "ch3f-optimized.xyz"), ff)
    ts = sn2_system(read_xyz(data_dir / "sn2-ts" / "sn2-ts-optimized.xyz"), ff)
    return [ch3f, ts], ff.vector()


def _qfuerza(data_dir, name: str, kind):
    """The real pipeline: QM bundle → QFUERZA estimate (MM3 form) → build_system."""
    from q2mm.estimate import estimate_forcefield
    from q2mm.io.numpy_bundle import read_bundle
    from q2mm.topology import build_system

    folder = data_dir / name
    molecule = read_bundle(folder / f"{name}-optimized.xyz", hessian=folder / f"{name}-hessian.npy").with_(
        stationary_point=kind
    )
    ff = estimate_forcefield([molecule], method="qfuerza", form="mm3")
    return build_system(molecule, ff), ff.vector()


@pytest.fixture(scope="session")
def ch3f_qfuerza(data_dir, engine):
    from q2mm.model import StationaryPoint

    return _qfuerza(data_dir, "ch3f", StationaryPoint.GROUND_STATE)


@pytest.fixture(scope="session")
def sn2_qfuerza(data_dir, engine):
    from q2mm.model import StationaryPoint

    return _qfuerza(data_dir, "sn2-ts", StationaryPoint.TRANSITION_STATE)


@pytest.fixture(scope="session")
def hydrogen_pairs(engine):
    """(system, values): two C–H fragments 3 Å apart with nothing but nonbonded pairs —
    MM3 Buckingham with reduced H centres, charges, and one pair scaled as 1-4."""
    ff = ForceField(
        FunctionalForm.MM3,
        [
            Row("vdw", ("1",), {"radius": 2.04, "epsilon": 0.027}, key="vC"),
            Row("vdw", ("5",), {"radius": 1.62, "epsilon": 0.020, "reduction": 0.923}, key="vH"),
            Row("charge", ("1",), {"q": -0.3}, key="qC"),
            Row("charge", ("5",), {"q": 0.3}, key="qH"),
        ],
        conventions=Conventions.mm3(),
    )
    x = np.array([[0.0, 0.0, 0.0], [0.3, 1.05, 0.2], [3.1, 0.4, -0.3], [3.3, 1.2, 0.8]])
    molecule = Molecule(["C", "H", "C", "H"], x, name="two CH fragments")
    index = ff.slot_index()
    keys = ["vC", "vH", "vC", "vH"]
    vdw = [[index[f"{k}.radius"], index[f"{k}.epsilon"], index.get(f"{k}.reduction", -1)] for k in keys]
    charges = [index["qC.q"], index["qH.q"], index["qC.q"], index["qH.q"]]
    pairs = [(0, 2), (0, 3), (1, 2), (1, 3)]
    nonbonded = Nonbonded(
        vdw,
        [-1, 0, -1, 2],
        charges,
        pairs,
        [1.0, 1.0, 1.0, 0.5],
        [1.0, 1.0, 0.8, 1.0],
        -np.ones((4, 2), dtype=int),
    )
    system = MMSystem(molecule, ff.form, ff.conventions, {}, nonbonded, n_parameters=len(ff.vector()))
    return system, ff.vector()


@pytest.fixture(scope="session")
def rh_enamide(data_dir, engine):
    """(system, values): the smallest Rh-enamide TS (36 atoms) under mm3.fld, assigned
    through MacroModel's .mmo row links: the real fitting case, with torsions,
    stretch-bends, bond dipoles, a point charge on Rh and reduced H vdW centres."""
    from q2mm.io import read_structures
    from q2mm.io.macromodel import read_mmo
    from q2mm.io.mm3_fld import MM3Fld
    from q2mm.model import StationaryPoint
    from q2mm.topology import build_system

    folder = data_dir / "rh-enamide" / "training_set"
    molecule = read_structures(folder / "rh_enamide_training_set.mol2")[0]
    mmo = read_mmo(folder / "rh_enamide_training_set.mmo")[0]
    ff = MM3Fld().read(data_dir / "rh-enamide" / "mm3.fld")
    return build_system(
        molecule.with_(stationary_point=StationaryPoint.TRANSITION_STATE), ff, mmo=mmo
    ), ff.vector()


@pytest.fixture(scope="module")
def rh_problem():
    """Structure 1 of the bundled Rh-enamide example, with the example's loading."""
    from q2mm.config import load_config
    from q2mm.io import read_forcefield, read_structures
    from q2mm.io.macromodel import read_mmo
    from q2mm.model import StationaryPoint
    from q2mm.parameters import ParameterSpace
    from q2mm.topology import build_system

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "rh-enamide" / "q2mm.toml")
    spec = cfg.structures[0]
    ff = read_forcefield(cfg.forcefield.file)
    molecule = read_structures(spec.file)[spec.index]
    molecule = molecule.with_(
        hessian=read_structures(spec.hessian)[0].hessian, stationary_point=StationaryPoint(spec.kind)
    )
    system = build_system(molecule, ff, mmo=read_mmo(spec.mmo)[spec.mmo_index])
    return [molecule], [system], ParameterSpace.from_forcefield(ff, sections=cfg.parameters.sections)
