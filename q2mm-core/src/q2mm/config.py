"""The ``q2mm run`` configuration file (TOML): schema, validation, path resolution.

Relative paths are relative to the file itself, so an example folder can be run from
anywhere. Every mistake is one :class:`~q2mm.errors.ConfigError` naming the file and
the key: unknown keys, wrong types, missing files, bad choices.

Schema (every key optional unless marked)::

    engine = "jax"                  # plugin name
    optimizer = "scipy:lbfgsb"      # plugin name
    executor = "serial"             # plugin name
    output = "results"              # result folder
    ts_method = "C"                 # C | D | E (transition-state handling)

    [engine_options]                # passed to the engine factory
    [optimizer_options]             # passed to the optimizer factory
    [executor_options]

    [forcefield]                    # required: a starting file, or an estimate
    file = "start.fld"              # starting force field (any format plugin)
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

    [[objective]]                   # default: eigenmatrix + geometry
    kind = "eigenmatrix"
    weight = 1.0
    options = {}
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs

from .errors import ConfigError

_TOP = {
    "engine": str,
    "optimizer": str,
    "executor": str,
    "output": str,
    "ts_method": str,
    "engine_options": dict,
    "optimizer_options": dict,
    "executor_options": dict,
    "forcefield": dict,
    "parameters": dict,
    "structures": list,
    "objective": list,
    "topology": dict,
}
_TOPOLOGY = {"tolerance": float, "partial_tolerance": float}
_FORCEFIELD = {
    "file": str,
    "format": str,
    "estimate": str,
    "template": str,
    "form": str,
    "gamma": float,
    "inverted_eigenvalue": float,
    "write": list,
}
_PARAMETERS = {
    "kinds": list,
    "fields": list,
    "sections": list,
    "rows": list,
    "tie": list,
    "allow_negative": bool,
    "fractional_bounds": float,
}
_STRUCTURE = {
    "file": str,
    "format": str,
    "index": int,
    "name": str,
    "kind": str,
    "group": str,
    "hessian": str,
    "mmo": str,
    "mmo_index": int,
    "extra_bonds": list,
    "excluded_bonds": list,
}
_OBJECTIVE = {"kind": str, "weight": float, "options": dict}

ESTIMATE_METHODS = ("qfuerza", "fuerza", "gamma-fuerza", "defaults")
TS_METHODS = ("C", "D", "E")
KINDS = ("ground_state", "transition_state")
FORMS = ("harmonic", "mm3")


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
    form: str = "mm3"
    gamma: float = 0.68
    inverted_eigenvalue: float = 1.0
    write: tuple[Path, ...] = ()


@attrs.frozen
class ParameterSpec:
    kinds: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None
    sections: tuple[str, ...] | None = None
    rows: tuple[str, ...] | None = None
    tie: tuple[tuple[str, ...], ...] = ()
    allow_negative: bool = False
    fractional_bounds: float | None = None


@attrs.frozen
class ObjectiveSpec:
    kind: str
    weight: float = 1.0
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class RunConfig:
    path: Path
    engine: str
    optimizer: str
    executor: str
    output: Path
    ts_method: str
    forcefield: ForceFieldSpec
    parameters: ParameterSpec
    structures: tuple[StructureSpec, ...]
    objective: tuple[ObjectiveSpec, ...]
    topology: TopologySpec = TopologySpec()
    engine_options: dict[str, Any] = attrs.field(factory=dict)
    optimizer_options: dict[str, Any] = attrs.field(factory=dict)
    executor_options: dict[str, Any] = attrs.field(factory=dict)


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

    def table(self, data: dict, schema: dict, where: str) -> dict:
        for key, value in data.items():
            name = f"{where}.{key}" if where else key
            if key not in schema:
                raise self.fail(name, f"unknown key (known: {', '.join(sorted(schema))})")
            expected = schema[key]
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise self.fail(
                    name, f"expected {_TYPE_NAMES[expected]}, got {type(value).__name__} {value!r}"
                )
        return data

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
    c.table(data, _TOP, "")

    ff = c.table(data.get("forcefield", {}), _FORCEFIELD, "forcefield")
    if "file" not in ff and "estimate" not in ff:
        raise c.fail("forcefield", "give a starting force field: 'file' or 'estimate'")
    if "file" in ff and "estimate" in ff:
        raise c.fail("forcefield", "give either 'file' or 'estimate', not both")
    forcefield = ForceFieldSpec(
        file=c.file(ff["file"], "forcefield.file") if "file" in ff else None,
        format=ff.get("format"),
        estimate=c.choice(ff["estimate"], ESTIMATE_METHODS, "forcefield.estimate")
        if "estimate" in ff
        else None,
        template=c.file(ff["template"], "forcefield.template") if "template" in ff else None,
        form=c.choice(ff.get("form", "mm3"), FORMS, "forcefield.form"),
        gamma=float(ff.get("gamma", 0.68)),
        inverted_eigenvalue=float(ff.get("inverted_eigenvalue", 1.0)),
        write=tuple(c.base / w for w in c.strings(ff.get("write", []), "forcefield.write")),
    )

    pp = c.table(data.get("parameters", {}), _PARAMETERS, "parameters")
    tie = pp.get("tie", [])
    if not all(isinstance(group, list) for group in tie):
        raise c.fail("parameters.tie", "expected an array of arrays of row keys")
    parameters = ParameterSpec(
        kinds=c.strings(pp["kinds"], "parameters.kinds") if "kinds" in pp else None,
        fields=c.strings(pp["fields"], "parameters.fields") if "fields" in pp else None,
        sections=c.strings(pp["sections"], "parameters.sections") if "sections" in pp else None,
        rows=c.strings(pp["rows"], "parameters.rows") if "rows" in pp else None,
        tie=tuple(c.strings(g, "parameters.tie") for g in tie),
        allow_negative=pp.get("allow_negative", False),
        fractional_bounds=pp.get("fractional_bounds"),
    )

    raw_structures = data.get("structures", [])
    if not raw_structures:
        raise c.fail("structures", "at least one [[structures]] entry is required")
    structures = []
    for i, s in enumerate(raw_structures):
        where = f"structures[{i}]"
        if not isinstance(s, dict):
            raise c.fail(where, "expected a table")
        c.table(s, _STRUCTURE, where)
        for required in ("file", "kind"):
            if required not in s:
                raise c.fail(f"{where}.{required}", "missing (required)")
        structures.append(
            StructureSpec(
                file=c.file(s["file"], f"{where}.file"),
                kind=c.choice(s["kind"], KINDS, f"{where}.kind"),
                format=s.get("format"),
                index=s.get("index", 0),
                name=s.get("name"),
                group=s.get("group"),
                hessian=c.file(s["hessian"], f"{where}.hessian") if "hessian" in s else None,
                mmo=c.file(s["mmo"], f"{where}.mmo") if "mmo" in s else None,
                mmo_index=s.get("mmo_index"),
                extra_bonds=c.atom_pairs(s.get("extra_bonds", []), f"{where}.extra_bonds"),
                excluded_bonds=c.atom_pairs(s.get("excluded_bonds", []), f"{where}.excluded_bonds"),
            )
        )

    objective = []
    for i, o in enumerate(data.get("objective", [])):
        where = f"objective[{i}]"
        if not isinstance(o, dict):
            raise c.fail(where, "expected a table")
        c.table(o, _OBJECTIVE, where)
        if "kind" not in o:
            raise c.fail(f"{where}.kind", "missing (required)")
        objective.append(ObjectiveSpec(o["kind"], float(o.get("weight", 1.0)), dict(o.get("options", {}))))

    tp = c.table(data.get("topology", {}), _TOPOLOGY, "topology")
    return RunConfig(
        path=path,
        topology=TopologySpec(**{k: float(v) for k, v in tp.items()}),
        engine=data.get("engine", "jax"),
        optimizer=data.get("optimizer", "scipy:lbfgsb"),
        executor=data.get("executor", "serial"),
        output=(c.base / data.get("output", "results")).resolve(),
        ts_method=c.choice(data.get("ts_method", "C"), TS_METHODS, "ts_method"),
        forcefield=forcefield,
        parameters=parameters,
        structures=tuple(structures),
        objective=tuple(objective),
        engine_options=dict(data.get("engine_options", {})),
        optimizer_options=dict(data.get("optimizer_options", {})),
        executor_options=dict(data.get("executor_options", {})),
    )
