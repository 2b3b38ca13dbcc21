"""How the starting geometries in inputs/ were made (run once; needs RDKit, which
q2mm does not depend on). Minima: RDKit ETKDG + MMFF94 from SMILES. Transition
states: guesses written by hand from textbook TS geometries (bond lengths in Å in
the comments), so that geomeTRIC's TS search starts in the right region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "inputs"

MINIMA = {
    "acetaldehyde": "CC=O",
    "propene": "C=CC",
    "ethanol": "CCO",
    "formamide": "NC=O",
    "acetone": "CC(C)=O",
    "methylamine": "CN",
    "oxirane": "C1CO1",
}


def write(name: str, elements, coords, comment: str) -> None:
    coords = np.asarray(coords, dtype=float)
    lines = [str(len(elements)), comment]
    lines += [f"{e:<2} {x:14.8f} {y:14.8f} {z:14.8f}" for e, (x, y, z) in zip(elements, coords, strict=True)]
    (HERE / f"{name}.xyz").write_text("\n".join(lines) + "\n")


def minimum(smiles: str):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    AllChem.MMFFOptimizeMolecule(mol)
    conf = mol.GetConformer()
    return [a.GetSymbol() for a in mol.GetAtoms()], np.array(conf.GetPositions())


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


TS = {
    # HC-OH -> H2C=O 1,2-H shift, planar: C-O 1.27, C..H 1.22, O..H 1.20
    "ts-hcoh-12-shift": (
        ["C", "O", "H", "H"],
        [[0, 0, 0], [1.27, 0, 0], [0.654, 1.03, 0], [-0.55, -0.953, 0]],
    ),
    # malonaldehyde intramolecular proton transfer, C2v: C-C 1.40, C-O 1.28, O..O 2.35, O-H 1.19
    "ts-malonaldehyde-pt": (
        ["C", "C", "C", "O", "O", "H", "H", "H", "H"],
        [
            [0, 0, 0],
            [1.20, 0.72, 0],
            [-1.20, 0.72, 0],
            [1.175, 2.0, 0],
            [-1.175, 2.0, 0],
            [0, 2.19, 0],
            [2.15, 0.19, 0],
            [-2.15, 0.19, 0],
            [0, -1.09, 0],
        ],
    ),
    # formamide C-N rotation: NH2 perpendicular to the O=C-N plane, N pyramidal, C-N 1.42
    "ts-formamide-rotation": (
        ["C", "O", "H", "N", "H", "H"],
        [
            [0, 0, 0],
            [-0.60, 1.05, 0],
            [-0.55, -0.95, 0],
            [1.42, 0, 0],
            [1.42 + 1.015 * 0.33, -1.015 * 0.45, 1.015 * 0.83],
            [1.42 + 1.015 * 0.33, -1.015 * 0.45, -1.015 * 0.83],
        ],
    ),
    # formamide -> formimidic acid 1,3-H shift, planar 4-ring: C-N 1.32, C-O 1.30, N..H 1.30, O..H 1.33
    "ts-formamide-13-shift": (
        ["C", "N", "O", "H", "H", "H"],
        [
            [0, 0, 0],
            [1.32, 0, 0],
            [-0.402, 1.236, 0],
            [0.929, 1.239, 0],
            [-0.55, -0.95, 0],
            [1.825, -0.875, 0],
        ],
    ),
    # CH3CH2F -> C2H4 + HF four-centre elimination: C-C 1.40, C..F 1.95, C..H 1.37, H..F 1.18
    "ts-fluoroethane-hf-elimination": (
        ["C", "C", "F", "H", "H", "H", "H", "H"],
        [
            [0, 0, 0],
            [1.40, 0, 0],
            [0.505, 1.884, 0],
            [1.567, 1.360, 0],
            [-0.55, -0.45, 0.90],
            [-0.55, -0.45, -0.90],
            [1.95, -0.45, 0.90],
            [1.95, -0.45, -0.90],
        ],
    ),
    # Cl- + CH3CH2Cl identity S_N2 at the ethyl carbon, charge -1: Cl..C..Cl collinear, 2.43 each.
    # Cs with the mirror through Cl-C-Cl and C-C: one methyl H in that plane, pointing at a Cl.
    # The first guess (methyl H in the CH2 plane, angles 0/120/240) converged to a
    # second-order saddle (-122.7, -41.7 cm-1), the second mode the methyl rotation.
    "ts-sn2-cl-ethylchloride": (
        ["C", "Cl", "Cl", "C", "H", "H", "H", "H", "H"],
        [
            [0, 0, 0],
            [0, 0, 2.43],
            [0, 0, -2.43],
            [1.50, 0, 0],
            [-0.54, 0.935, 0],
            [-0.54, -0.935, 0],
            *[
                (np.array([1.50, 0, 0]) + 1.09 * unit([0.334, 0.943 * np.cos(a), 0.943 * np.sin(a)])).tolist()
                for a in np.radians([90.0, 210.0, 330.0])
            ],
        ],
    ),
    # butadiene + ethylene Diels-Alder, Cs, concerted: forming C..C 2.3
    "ts-diels-alder": (
        ["C", "C", "C", "C", "C", "C", "H", "H", "H", "H", "H", "H", "H", "H", "H", "H"],
        [
            [-1.40, 0, 0],
            [-0.70, 1.19, 0],
            [0.70, 1.19, 0],
            [1.40, 0, 0],
            [-0.69, -0.45, 2.15],
            [0.69, -0.45, 2.15],
            [-1.24, 2.14, 0],
            [1.24, 2.14, 0],
            [-2.34, 0.16, -0.51],
            [-1.67, -0.99, -0.32],
            [2.34, 0.16, -0.51],
            [1.67, -0.99, -0.32],
            [-1.235, 0.42, 2.48],
            [-1.235, -1.32, 2.48],
            [1.235, 0.42, 2.48],
            [1.235, -1.32, 2.48],
        ],
    ),
}


def rotate(points, origin, axis, degrees):
    """Rodrigues rotation of points about the line through origin along axis."""
    k = unit(axis)
    t = np.radians(degrees)
    v = np.asarray(points, dtype=float) - origin
    rotated = v * np.cos(t) + np.cross(k, v) * np.sin(t) + np.outer(v @ k, k) * (1 - np.cos(t))
    return rotated + origin


def hydrogens_on(elements, coords, atom):
    d = np.linalg.norm(coords - coords[atom], axis=1)
    return [i for i, e in enumerate(elements) if e == "H" and d[i] < 1.2]


def cyclobutene_opening():
    """Conrotatory electrocyclic ring opening cyclobutene -> s-cis-butadiene: the
    sp3-sp3 bond stretched to 2.15 and both CH2 groups turned 40 degrees the same way."""
    elements, x = minimum("C1=CCC1")  # atoms 0=1 double bond, 2-3 the breaking bond
    a, b = 2, 3
    shift = (2.15 - np.linalg.norm(x[b] - x[a])) / 2 * unit(x[b] - x[a])
    for atom, sign in ((a, -1), (b, 1)):
        group = [atom, *hydrogens_on(elements, x, atom)]
        x[group] += sign * shift
    for atom, anchor in ((a, 1), (b, 0)):
        hs = hydrogens_on(elements, x, atom)
        x[hs] = rotate(x[hs], x[atom], x[atom] - x[anchor], 40.0)
    return elements, x


def propane_rotation():
    """Propane with one methyl eclipsed: the methyl rotation barrier."""
    elements, x = minimum("CCC")
    hs = hydrogens_on(elements, x, 0)
    x[hs] = rotate(x[hs], x[0], x[0] - x[1], 60.0)
    return elements, x


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, smiles in MINIMA.items():
        elements, coords = minimum(smiles)
        write(name, elements, coords, f"{name}: RDKit ETKDG + MMFF94 from {smiles}")
    for name, (elements, coords) in TS.items():
        write(name, elements, coords, f"{name}: hand-built transition-state guess")
    write(
        "ts-cyclobutene-opening",
        *cyclobutene_opening(),
        "ts-cyclobutene-opening: cyclobutene, C3-C4 2.15, conrotated",
    )
    write("ts-propane-rotation", *propane_rotation(), "ts-propane-rotation: propane with one methyl eclipsed")


if __name__ == "__main__":
    main()
