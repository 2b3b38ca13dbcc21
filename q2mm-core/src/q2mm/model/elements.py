"""Element data: symbols, standard atomic masses (IUPAC 2013, amu) and single-bond
covalent radii (Cordero et al., Dalton Trans. 2008, Å) used for bond perception."""

from __future__ import annotations

from ..errors import Q2MMError

SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn "
    "Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr "
    "Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi"
).split()

_MASSES = {
    "H": 1.008, "He": 4.002602, "Li": 6.94, "Be": 9.0121831, "B": 10.81, "C": 12.011,
    "N": 14.007, "O": 15.999, "F": 18.998403163, "Ne": 20.1797, "Na": 22.98976928,
    "Mg": 24.305, "Al": 26.9815385, "Si": 28.085, "P": 30.973761998, "S": 32.06,
    "Cl": 35.45, "Ar": 39.948, "K": 39.0983, "Ca": 40.078, "Ti": 47.867, "V": 50.9415,
    "Cr": 51.9961, "Mn": 54.938044, "Fe": 55.845, "Co": 58.933194, "Ni": 58.6934,
    "Cu": 63.546, "Zn": 65.38, "Ga": 69.723, "Ge": 72.630, "As": 74.921595, "Se": 78.971,
    "Br": 79.904, "Kr": 83.798, "Ru": 101.07, "Rh": 102.90550, "Pd": 106.42,
    "Ag": 107.8682, "Sn": 118.710, "I": 126.90447, "Ir": 192.217, "Pt": 195.084,
    "Au": 196.966569,
}

_COVALENT_RADII = {
    "H": 0.31, "He": 0.28, "Li": 1.28, "Be": 0.96, "B": 0.84, "C": 0.76, "N": 0.71,
    "O": 0.66, "F": 0.57, "Ne": 0.58, "Na": 1.66, "Mg": 1.41, "Al": 1.21, "Si": 1.11,
    "P": 1.07, "S": 1.05, "Cl": 1.02, "Ar": 1.06, "K": 2.03, "Ca": 1.76, "Ti": 1.60,
    "V": 1.53, "Cr": 1.39, "Mn": 1.39, "Fe": 1.32, "Co": 1.26, "Ni": 1.24, "Cu": 1.32,
    "Zn": 1.22, "Ga": 1.22, "Ge": 1.20, "As": 1.19, "Se": 1.20, "Br": 1.20, "Kr": 1.16,
    "Ru": 1.46, "Rh": 1.42, "Pd": 1.39, "Ag": 1.45, "Sn": 1.39, "I": 1.39, "Ir": 1.41,
    "Pt": 1.36, "Au": 1.36,
}


class UnknownElementError(Q2MMError):
    """An element symbol or atomic number q2mm has no data for."""


def normalize_symbol(symbol: str) -> str:
    """'CL', 'cl' and 'Cl' all name chlorine; atom labels like 'C12' are not symbols."""
    s = symbol.strip()
    s = s[:1].upper() + s[1:].lower()
    if s not in _MASSES:
        raise UnknownElementError(f"unknown element symbol {symbol!r}")
    return s


def symbol_from_number(number: int) -> str:
    if not 0 < number < len(SYMBOLS):
        raise UnknownElementError(f"unknown atomic number {number}")
    return SYMBOLS[number]


def atomic_number(symbol: str) -> int:
    return SYMBOLS.index(normalize_symbol(symbol))


def mass(symbol: str) -> float:
    return _MASSES[normalize_symbol(symbol)]


def covalent_radius(symbol: str) -> float:
    s = normalize_symbol(symbol)
    if s not in _COVALENT_RADII:
        raise UnknownElementError(f"no covalent radius for element {symbol!r}")
    return _COVALENT_RADII[s]
