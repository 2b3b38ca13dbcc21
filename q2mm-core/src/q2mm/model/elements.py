"""Element data: symbols, masses and single-bond covalent radii (Cordero et al., Dalton
Trans. 2008, Å) used for bond perception.

Masses are those of the most abundant isotope (AME2016, amu): Gaussian, Jaguar and Psi4
use them for harmonic frequencies, so QM and MM frequencies must too (standard atomic
weights move CH₃F modes by 0.2–0.4 cm⁻¹)."""

from __future__ import annotations

from ..errors import Q2MMError

SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn "
    "Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr "
    "Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi"
).split()

_MASSES = {
    "H": 1.00782503223,
    "He": 4.00260325413,
    "Li": 7.0160034366,
    "Be": 9.012183065,
    "B": 11.00930536,
    "C": 12.0,
    "N": 14.00307400443,
    "O": 15.99491461957,
    "F": 18.99840316273,
    "Ne": 19.9924401762,
    "Na": 22.989769282,
    "Mg": 23.985041697,
    "Al": 26.98153853,
    "Si": 27.97692653465,
    "P": 30.97376199842,
    "S": 31.9720711744,
    "Cl": 34.968852682,
    "Ar": 39.9623831237,
    "K": 38.9637064864,
    "Ca": 39.962590863,
    "Ti": 47.94794198,
    "V": 50.94395704,
    "Cr": 51.94050623,
    "Mn": 54.93804391,
    "Fe": 55.93493633,
    "Co": 58.93319429,
    "Ni": 57.93534241,
    "Cu": 62.92959772,
    "Zn": 63.92914201,
    "Ga": 68.9255735,
    "Ge": 73.921177761,
    "As": 74.92159457,
    "Se": 79.9165218,
    "Br": 78.9183376,
    "Kr": 83.9114977282,
    "Ru": 101.9043441,
    "Rh": 102.905498,
    "Pd": 105.9034804,
    "Ag": 106.9050916,
    "Sn": 119.90220163,
    "I": 126.9044719,
    "Ir": 192.9629216,
    "Pt": 194.9647917,
    "Au": 196.96656879,
}

_COVALENT_RADII = {
    "H": 0.31,
    "He": 0.28,
    "Li": 1.28,
    "Be": 0.96,
    "B": 0.84,
    "C": 0.76,
    "N": 0.71,
    "O": 0.66,
    "F": 0.57,
    "Ne": 0.58,
    "Na": 1.66,
    "Mg": 1.41,
    "Al": 1.21,
    "Si": 1.11,
    "P": 1.07,
    "S": 1.05,
    "Cl": 1.02,
    "Ar": 1.06,
    "K": 2.03,
    "Ca": 1.76,
    "Ti": 1.60,
    "V": 1.53,
    "Cr": 1.39,
    "Mn": 1.39,
    "Fe": 1.32,
    "Co": 1.26,
    "Ni": 1.24,
    "Cu": 1.32,
    "Zn": 1.22,
    "Ga": 1.22,
    "Ge": 1.20,
    "As": 1.19,
    "Se": 1.20,
    "Br": 1.20,
    "Kr": 1.16,
    "Ru": 1.46,
    "Rh": 1.42,
    "Pd": 1.39,
    "Ag": 1.45,
    "Sn": 1.39,
    "I": 1.39,
    "Ir": 1.41,
    "Pt": 1.36,
    "Au": 1.36,
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


def mass(symbol: str) -> float:
    return _MASSES[normalize_symbol(symbol)]


def covalent_radius(symbol: str) -> float:
    s = normalize_symbol(symbol)
    if s not in _COVALENT_RADII:
        raise UnknownElementError(f"no covalent radius for element {symbol!r}")
    return _COVALENT_RADII[s]
