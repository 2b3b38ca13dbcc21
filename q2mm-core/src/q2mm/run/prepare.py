"""Stage one: configuration → molecules → starting force field → MM systems →
parameter space → objective, every plugin resolved and every file read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from ..config import RunConfig
from ..errors import ConfigError, ConversionLossError
from ..executors import SerialExecutor
from ..io import read_forcefield, read_structures
from ..io.conversion import lossy_terms
from ..model import ForceField, FunctionalForm, MMSystem, Molecule, StationaryPoint
from ..objective import Objective
from ..parameters import ParameterSpace
from ..plugins import Registry, registry
from ..protocols import Capability, Counters, Executor, FansOut, Optimizer
from ..residuals.weights import DEFAULT_TERMS
from ..stationary import check_declared
from ..topology import build_system
from ..topology.perception import BondRules, perceive
from ..windows import limits


def _load_structures(cfg: RunConfig) -> list[tuple[Molecule, Any]]:
    from ..io.macromodel import read_mmo

    out = []
    mmo_cache: dict[Path, list] = {}
    for i, spec in enumerate(cfg.structures):
        molecules = read_structures(spec.file, spec.format)
        if not 0 <= spec.index < len(molecules):
            raise ConfigError(
                f"{cfg.path}: structures[{i}].index: {spec.file} holds {len(molecules)} structures, "
                f"not index {spec.index}"
            )
        mol = molecules[spec.index]
        if spec.hessian is not None:
            donor = read_structures(spec.hessian)[0]
            if donor.hessian is None:
                raise ConfigError(f"{cfg.path}: structures[{i}].hessian: {spec.hessian} holds no Hessian")
            mol = mol.with_(hessian=donor.hessian, frequencies=donor.frequencies)
        mol = mol.with_(
            stationary_point=StationaryPoint(spec.kind), name=spec.name or mol.name or spec.file.stem
        )
        check_declared(mol, f"{cfg.path}: structures[{i}] ({spec.hessian or spec.file})")
        if spec.extra_bonds or spec.excluded_bonds or mol.bonds is None:
            # Fix the connectivity once, so estimation and assignment see the same bonds.
            rules = BondRules(
                tolerance=cfg.topology.tolerance,
                partial_tolerance=cfg.topology.partial_tolerance,
                extra_bonds=spec.extra_bonds,
                excluded_bonds=spec.excluded_bonds,
            )
            mol = mol.with_(bonds=perceive(mol, rules).bonds)
        mmo = None
        if spec.mmo is not None:
            listing = mmo_cache.setdefault(spec.mmo, read_mmo(spec.mmo))
            index = spec.index if spec.mmo_index is None else spec.mmo_index
            if not 0 <= index < len(listing):
                raise ConfigError(
                    f"{cfg.path}: structures[{i}].mmo_index: {spec.mmo} has {len(listing)} structures"
                )
            mmo = listing[index]
        out.append((mol, mmo))
    return out


def _starting_forcefield(cfg: RunConfig, loaded: list[tuple[Molecule, Any]]) -> ForceField:
    spec = cfg.forcefield
    if spec.file is not None:
        return read_forcefield(spec.file, spec.format)
    from ..estimate import estimate_forcefield

    template = read_forcefield(spec.template) if spec.template else None
    links = [mmo for _, mmo in loaded]
    return estimate_forcefield(
        [m for m, _ in loaded],
        template=template,
        mmo=links if template is not None and all(link is not None for link in links) else None,
        sections=cfg.parameters.sections,
        method=spec.estimate,
        ts_method=cfg.ts_method,
        form=FunctionalForm(spec.form),
        gamma=spec.gamma,
        inverted_eigenvalue=spec.inverted_eigenvalue,
    )


def _output_paths(cfg: RunConfig, forcefield: ForceField) -> list[Path]:
    """Where the fitted force field goes — the one place that decides it: the main
    file, then any extra formats requested (``forcefield.write``; a path named twice is
    written once). A fit from a file or a template writes the main file in that file's
    format. An estimate has no format of its own: its types are element or input
    names, not Tinker's numeric classes or MacroModel codes, and OpenMM XML cannot hold
    every term (no MM3 stretch-bend, no harmonic improper), so its main file is q2mm's
    JSON (``fitted.json``), which holds every row. Beside it goes ``fitted.xml``, ready
    for OpenMM, when the starting force field loses nothing there (``lossy_terms``, as
    :func:`_refuse_lossy_outputs` asks) — decided before the fit, from the start,
    since a fit changes values, not which rows or conventions there are."""
    spec, output = cfg.forcefield, cfg.output
    if spec.file is not None:
        paths = [output / f"fitted{''.join(spec.file.suffixes[-1:])}"]
    elif spec.template is not None:
        paths = [output / f"fitted{spec.template.suffix}"]
    else:
        paths = [output / "fitted.json"]
        if not lossy_terms(forcefield, "openmm-xml"):
            paths.append(output / "fitted.xml")
    return list(dict.fromkeys([*paths, *(output / p.name for p in spec.write)]))


@attrs.frozen(eq=False)
class Prepared:
    """A run ready to fit: what :func:`prepare` built from the configuration."""

    config: RunConfig
    plugins: Registry
    molecules: tuple[Molecule, ...]
    forcefield: ForceField
    space: ParameterSpace
    objective: Objective
    optimizer: Optimizer
    executor: Executor
    engine_description: dict[str, Any]
    outputs: tuple[Path, ...]
    counters: Counters


def _space(cfg: RunConfig, forcefield: ForceField, systems: list[MMSystem]) -> ParameterSpace:
    p = cfg.parameters
    space = ParameterSpace.from_forcefield(
        forcefield,
        kinds=p.kinds,
        fields=p.fields,
        sections=p.sections,
        rows=p.rows,
        tie=p.tie,
        allow_negative=p.allow_negative,
        fractional_bounds=p.fractional_bounds,
        limits=limits(systems, forcefield, p.windows, p.allow_negative),
    )
    if space.size == 0:
        raise ConfigError(f"{cfg.path}: [parameters] selects no active parameter")
    return space


def _refuse_lossy_outputs(plugins: Registry, forcefield: ForceField, outputs: list[Path]) -> None:
    """Refuse a lossy output before the fit, not after it."""
    for path in outputs:
        lost = lossy_terms(forcefield, plugins.by_suffix("format", str(path)).name)
        if lost:
            raise ConversionLossError(
                f"{path.name}: writing the force field in this format would lose: " + "; ".join(lost)
            )


def prepare(cfg: RunConfig, plugins: Registry | None = None) -> Prepared:
    """Configuration → objective, every plugin resolved and every file read."""
    plugins = plugins or registry()
    engine_record = plugins.get("engine", cfg.engine)
    optimizer_record = plugins.get("optimizer", cfg.optimizer)
    executor_record = plugins.get("executor", cfg.executor)
    terms = [(o.kind, o.weight, o.options) for o in cfg.objective] or list(DEFAULT_TERMS)
    for residual, _, _ in terms:
        plugins.get("residual", residual)

    loaded = _load_structures(cfg)
    molecules = [m for m, _ in loaded]
    start_ff = _starting_forcefield(cfg, loaded)
    systems = [build_system(m, start_ff, mmo=mmo) for m, mmo in loaded]
    outputs = _output_paths(cfg, start_ff)
    _refuse_lossy_outputs(plugins, start_ff, outputs)
    space = _space(cfg, start_ff, systems)

    engine = engine_record.create(**cfg.engine_options)
    optimizer = optimizer_record.create(**cfg.optimizer_options)
    if "traceable" in optimizer.requires and Capability.TRACEABLE not in engine.capabilities:
        raise ConfigError(
            f"optimizer {cfg.optimizer!r} needs a JAX-traceable objective but engine {cfg.engine!r} is not "
            f"traceable; use a scipy optimizer (e.g. scipy:lbfgsb) or a traceable engine (jax)"
        )
    executor = executor_record.create(**cfg.executor_options)
    if isinstance(optimizer, FansOut) and not isinstance(executor, SerialExecutor):
        optimizer.use_executor(executor)
    counters = Counters()
    try:
        objective = Objective.build(
            molecules=molecules,
            systems=systems,
            engine=engine,
            space=space,
            terms=terms,
            executor=executor,
            ts_method=cfg.ts_method,
            groups=[spec.group for spec in cfg.structures],
            plugins=plugins,
            counters=counters,
        )
    except BaseException:
        executor.shutdown()
        raise
    if "jacobian" in optimizer.requires:
        objective.expect_jacobians()
    return Prepared(
        cfg,
        plugins,
        tuple(molecules),
        start_ff,
        space,
        objective,
        optimizer,
        executor,
        engine.describe(),
        tuple(outputs),
        counters,
    )
