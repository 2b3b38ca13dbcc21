"""The ``q2mm run`` configuration file (TOML): schema, validation, path resolution.

Relative paths are relative to the file itself, so an example folder can be run from
anywhere. Every mistake is one :class:`~q2mm.errors.ConfigError` naming the file and
the key: unknown keys, wrong types, missing files, bad choices.

The attrs classes below are the schema: the keys a table accepts and their TOML
types are read off their fields (:func:`schema`), defaults are their field defaults,
and choices come from the enums that the rest of q2mm uses. The listing below is
checked against them by the test suite.

Schema (every key optional unless marked)::

    engine = "jax"                  # plugin name
    optimizer = "auto"              # plugin name
    executor = "serial"             # plugin name
    output = "results"              # result folder
    ts_method = "E"                 # C | D | E (transition-state handling)

    [engine_options]                # passed to the engine factory
    [optimizer_options]             # passed to the optimizer factory
    [executor_options]

    [forcefield]                    # required: a starting file, or an estimate
    file = "start.fld"              # starting force field (any format plugin)
    format = "mm3-fld"              # force a format instead of the suffix's
    estimate = "qfuerza"            # qfuerza | fuerza | gamma-fuerza | defaults
    template = "template.fld"       # rows to fill when estimating
    form = "mm3"                    # harmonic | mm3 (estimate without template)
    gamma = 0.68                    # gamma-fuerza
    inverted_eigenvalue = 1.0       # method C, Hartree/Bohr²
    write = ["fit.prm"]             # extra output files (format from suffix)

    [parameters]
    kinds = ["bond", "angle"]       # active row kinds
    fields = ["k", "r0", "theta0"]  # active fields
    sections = ["..."]              # only rows of these substructures (e.g. OPT)
    rows = ["bond:C-H"]             # only these row keys
    tie = [["bond:C-H", "bond:C-F"]]# rows sharing fitted values
    allow_negative = false
    fractional_bounds = 0.5         # optional ± fraction around the start
    r0_window = 0.05                # Å around the QM bond lengths (q2mm.windows)
    theta0_window = 5.0             # degrees around the QM angles
    partial_window_factor = 4.0     # wider for a TS's partial bonds
    force_constant_floor = 0.1      # bond/angle/out-of-plane k ≥ this × start

    [[structures]]                  # required, at least one
    file = "ch3f-hessian.npy"       # required: any reader plugin
    format = "numpy-bundle"         # force a reader
    index = 0                       # which structure of a multi-structure file
    name = "ch3f"
    kind = "ground_state"           # required: ground_state | transition_state
    group = "conformers"            # relative-energy group
    hessian = "other.in"            # take the QM Hessian from another file
    mmo = "set.mmo"                 # MacroModel .mmo: row of every term
    mmo_index = 0
    extra_bonds = [[1, 5]]          # 1-based atom numbers, added to perceived bonds
    excluded_bonds = [[1, 6]]       # 1-based, never bonds (e.g. an η² contact)

    [topology]                      # bond perception for files without bonds
    tolerance = 0.45                # Å beyond the sum of covalent radii
    partial_tolerance = 0.75        # Å, for non-1-3 pairs of transition states

    [quality]                       # verdict thresholds (q2mm.residuals.quality)
    min_eigenmatrix_r2 = 0.99
    max_frequency_mae_cm1 = 40.0
    max_bond_rmsd_angstrom = 0.005
    max_angle_rmsd_degree = 0.5
    max_dihedral_rmsd_degree = 2.0
    min_mm_frequency_cm1 = 0.0      # at the MM minimum; negative = imaginary

    [report]
    html = true                     # write report.html (q2mm report) beside result.json

    [[objective]]                   # default: eigenmatrix + geometry + stability + tether
    kind = "eigenmatrix"
    weight = 1.0
    options = {}
"""

from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import attrs

from .errors import ConfigError
from .estimate import Method, TSMethod
from .estimate.curvature import DEFAULT_INVERTED_EIGENVALUE, DEFAULT_TS_METHOD
from .estimate.estimator import DEFAULT_GAMMA
from .model import FunctionalForm, StationaryPoint
from .residuals.quality import QualityThresholds
from .windows import Windows

ESTIMATE_METHODS = tuple(m.value for m in Method)
TS_METHODS = tuple(m.value for m in TSMethod)
STATIONARY_KINDS = tuple(k.value for k in StationaryPoint)
FORMS = tuple(f.value for f in FunctionalForm)
#: Field metadata: the field is not a key of the file (e.g. the file's own path).
NOT_IN_FILE = {"in_file": False}
_WINDOWS = Windows()


@attrs.frozen
class StructureSpec:
    file: Path
    kind: str
    format: str | None = None
    index: int = 0
    name: str | None = None
    group: str | None = None
    hessian: Path | None = None
    mmo: Path | None = None
    mmo_index: int | None = None
    extra_bonds: tuple[tuple[int, int], ...] = ()
    excluded_bonds: tuple[tuple[int, int], ...] = ()


@attrs.frozen
class TopologySpec:
    tolerance: float = 0.45
    partial_tolerance: float = 0.75


@attrs.frozen
class ForceFieldSpec:
    file: Path | None = None
    format: str | None = None
    estimate: str | None = None
    template: Path | None = None
    form: str = FunctionalForm.MM3.value
    gamma: float = DEFAULT_GAMMA
    inverted_eigenvalue: float = DEFAULT_INVERTED_EIGENVALUE
    write: tuple[Path, ...] = ()


@attrs.frozen
class ReportSpec:
    html: bool = True


@attrs.frozen
class ParameterSpec:
    kinds: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None
    sections: tuple[str, ...] | None = None
    rows: tuple[str, ...] | None = None
    tie: tuple[tuple[str, ...], ...] = ()
    allow_negative: bool = False
    fractional_bounds: float | None = None
    r0_window: float = _WINDOWS.r0_window
    theta0_window: float = _WINDOWS.theta0_window
    partial_window_factor: float = _WINDOWS.partial_window_factor
    force_constant_floor: float = _WINDOWS.force_constant_floor

    @property
    def windows(self) -> Windows:
        return Windows(
            self.r0_window, self.theta0_window, self.partial_window_factor, self.force_constant_floor
        )


@attrs.frozen
class ObjectiveSpec:
    kind: str
    weight: float = 1.0
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class RunConfig:
    path: Path = attrs.field(metadata=NOT_IN_FILE)
    forcefield: ForceFieldSpec
    structures: tuple[StructureSpec, ...]
    engine: str = "jax"
    optimizer: str = "auto"
    executor: str = "serial"
    output: Path = Path("results")
    ts_method: str = DEFAULT_TS_METHOD.value
    parameters: ParameterSpec = ParameterSpec()
    objective: tuple[ObjectiveSpec, ...] = ()
    topology: TopologySpec = TopologySpec()
    report: ReportSpec = ReportSpec()
    quality: QualityThresholds = attrs.field(factory=QualityThresholds)
    engine_options: dict[str, Any] = attrs.field(factory=dict)
    optimizer_options: dict[str, Any] = attrs.field(factory=dict)
    executor_options: dict[str, Any] = attrs.field(factory=dict)


def _toml_type(annotation: Any) -> type:
    """The TOML value type a field of this annotation is written as."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _toml_type(inner)
    if origin is tuple:
        return list
    if origin is dict or attrs.has(annotation):
        return dict
    return str if annotation is Path else annotation


def schema(cls: type) -> dict[str, type]:
    """Key → TOML type of one table, read off the attrs class that holds it."""
    hints = typing.get_type_hints(cls)
    return {f.name: _toml_type(hints[f.name]) for f in attrs.fields(cls) if f.metadata.get("in_file", True)}


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


class _Checker:
    def __init__(self, path: Path):
        self.path = path
        self.base = path.parent

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {message}")

    def table(self, data: Any, cls: type, where: str) -> dict:
        """``data`` checked against ``cls``'s schema: a table of known keys and types."""
        if not isinstance(data, dict):
            raise self.fail(where, "expected a table")
        known = schema(cls)
        for key, value in data.items():
            name = f"{where}.{key}" if where else key
            if key not in known:
                raise self.fail(name, f"unknown key (known: {', '.join(sorted(known))})")
            expected = known[key]
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise self.fail(
                    name, f"expected {_TYPE_NAMES[expected]}, got {type(value).__name__} {value!r}"
                )
        return data

    def required(self, data: dict, keys: tuple[str, ...], where: str) -> None:
        for key in keys:
            if key not in data:
                raise self.fail(f"{where}.{key}", "missing (required)")

    def file(self, value: str, key: str) -> Path:
        p = (self.base / value).resolve()
        if not p.is_file():
            raise self.fail(key, f"file not found: {p}")
        return p

    def choice(self, value: str, choices: tuple[str, ...], key: str) -> str:
        if value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def atom_pairs(self, value: list, key: str) -> tuple[tuple[int, int], ...]:
        """1-based atom pairs in the file, 0-based inside."""
        ok = all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and i >= 1 for i in p)
            for p in value
        )
        if not ok:
            raise self.fail(key, "expected an array of [atom, atom] pairs of 1-based atom numbers")
        return tuple((p[0] - 1, p[1] - 1) for p in value)

    def strings(self, value: list, key: str) -> tuple[str, ...]:
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected an array of strings")
        return tuple(value)


def _forcefield(c: _Checker, ff: dict) -> ForceFieldSpec:
    if "file" not in ff and "estimate" not in ff:
        raise c.fail("forcefield", "give a starting force field: 'file' or 'estimate'")
    if "file" in ff and "estimate" in ff:
        raise c.fail("forcefield", "give either 'file' or 'estimate', not both")
    converters = {
        "file": lambda v: c.file(v, "forcefield.file"),
        "estimate": lambda v: c.choice(v, ESTIMATE_METHODS, "forcefield.estimate"),
        "template": lambda v: c.file(v, "forcefield.template"),
        "form": lambda v: c.choice(v, FORMS, "forcefield.form"),
        "gamma": float,
        "inverted_eigenvalue": float,
        "write": lambda v: tuple(c.base / w for w in c.strings(v, "forcefield.write")),
    }
    return ForceFieldSpec(**{k: converters.get(k, _same)(v) for k, v in ff.items()})


def _same(value: Any) -> Any:
    return value


def _parameters(c: _Checker, pp: dict) -> ParameterSpec:
    if not all(isinstance(group, list) for group in pp.get("tie", [])):
        raise c.fail("parameters.tie", "expected an array of arrays of row keys")
    for key in attrs.fields_dict(Windows):
        if key in pp and not pp[key] >= 0:
            raise c.fail(f"parameters.{key}", f"expected a number ≥ 0, got {pp[key]}")
    converters = {
        "tie": lambda v: tuple(c.strings(g, "parameters.tie") for g in v),
        "fractional_bounds": float,
        **dict.fromkeys(attrs.fields_dict(Windows), float),
        **{
            k: (lambda v, k=k: c.strings(v, f"parameters.{k}"))
            for k in ("kinds", "fields", "sections", "rows")
        },
    }
    return ParameterSpec(**{k: converters.get(k, _same)(v) for k, v in pp.items()})


def _structure(c: _Checker, s: Any, where: str) -> StructureSpec:
    c.table(s, StructureSpec, where)
    c.required(s, ("file", "kind"), where)
    converters = {
        "file": lambda v: c.file(v, f"{where}.file"),
        "kind": lambda v: c.choice(v, STATIONARY_KINDS, f"{where}.kind"),
        "hessian": lambda v: c.file(v, f"{where}.hessian"),
        "mmo": lambda v: c.file(v, f"{where}.mmo"),
        "extra_bonds": lambda v: c.atom_pairs(v, f"{where}.extra_bonds"),
        "excluded_bonds": lambda v: c.atom_pairs(v, f"{where}.excluded_bonds"),
    }
    return StructureSpec(**{k: converters.get(k, _same)(v) for k, v in s.items()})


def _structures(c: _Checker, raw: list) -> tuple[StructureSpec, ...]:
    if not raw:
        raise c.fail("structures", "at least one [[structures]] entry is required")
    return tuple(_structure(c, s, f"structures[{i}]") for i, s in enumerate(raw))


def _objective_term(c: _Checker, o: Any, where: str) -> ObjectiveSpec:
    c.table(o, ObjectiveSpec, where)
    c.required(o, ("kind",), where)
    return ObjectiveSpec(o["kind"], float(o.get("weight", 1.0)), dict(o.get("options", {})))


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run configuration; raises ConfigError naming file and key."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    c = _Checker(path)
    c.table(data, RunConfig, "")
    data = {"forcefield": {}, **data}
    tables = {
        "forcefield": lambda v: _forcefield(c, c.table(v, ForceFieldSpec, "forcefield")),
        "parameters": lambda v: _parameters(c, c.table(v, ParameterSpec, "parameters")),
        "quality": lambda v: QualityThresholds(
            **{k: float(x) for k, x in c.table(v, QualityThresholds, "quality").items()}
        ),
        "topology": lambda v: TopologySpec(
            **{k: float(x) for k, x in c.table(v, TopologySpec, "topology").items()}
        ),
        "report": lambda v: ReportSpec(**c.table(v, ReportSpec, "report")),
        "structures": lambda v: _structures(c, v),
        "objective": lambda v: tuple(_objective_term(c, o, f"objective[{i}]") for i, o in enumerate(v)),
        "output": lambda v: (c.base / v).resolve(),
        "ts_method": lambda v: c.choice(v, TS_METHODS, "ts_method"),
        **{k: dict for k in ("engine_options", "optimizer_options", "executor_options")},
    }
    data.setdefault("structures", [])
    data.setdefault("output", str(attrs.fields(RunConfig).output.default))
    # Tables in the order their mistakes are reported.
    order = ["forcefield", "parameters", "structures", "objective", "topology"]
    keys = order + [k for k in data if k not in order]
    values = {k: tables.get(k, _same)(data[k]) for k in keys if k in data}
    return RunConfig(path=path, **values)
