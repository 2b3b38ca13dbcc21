"""The plugin registry: entry-point group ``q2mm``, lazy records, conflicts, errors.

Every plugin — the core's own built-ins included — is a module named by an entry
point in group ``q2mm``. Loading a plugin imports only that module, which must stay
light; it returns :class:`PluginRecord` objects whose ``factory`` (``"module:attr"``)
is imported when the plugin is first used. So ``q2mm plugins`` never imports JAX or
OpenMM.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import inspect
import os
import types
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import ConfigError, PluginConflictError, PluginError, UnknownPluginError

#: Major version of the plugin API. A plugin module declares the version it was
#: built for as ``Q2MM_PLUGIN_API``; any other value is refused.
PLUGIN_API_VERSION = 1
ENTRY_POINT_GROUP = "q2mm"
DISABLE_ENV = "Q2MM_DISABLE_PLUGINS"

CATEGORIES = ("engine", "optimizer", "residual", "format", "reader", "executor", "qm")
_HOOK_CATEGORY = {
    "q2mm_engines": "engine",
    "q2mm_optimizers": "optimizer",
    "q2mm_residuals": "residual",
    "q2mm_formats": None,  # records say "format" or "reader"
    "q2mm_executors": "executor",
    "q2mm_qm": "qm",
}


@attrs.frozen
class PluginRecord:
    """What a plugin offers under one name. ``factory`` is ``"module:attr"``, imported
    only on use. ``suffixes`` lets formats be chosen by file suffix."""

    name: str
    category: str = attrs.field(validator=attrs.validators.in_(CATEGORIES))
    factory: str
    capabilities: frozenset[str] = attrs.field(factory=frozenset, converter=frozenset)
    description: str = ""
    suffixes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    plugin: str = ""
    distribution: str = ""
    version: str = ""

    def load(self) -> Any:
        module_name, _, attr = self.factory.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(
                f"{self.category} {self.name!r} from {self.distribution or self.plugin} failed to load "
                f"({self.factory}): {type(exc).__name__}: {exc}"
            ) from exc
        return obj

    def create(self, **options: Any) -> Any:
        """The factory called with ``options``, checked first against its signature so
        that a misspelt option is one line naming the known ones, not a ``TypeError``
        traceback (a factory taking ``**options`` checks them itself)."""
        factory = self.load()
        known, open_ended = _option_names(factory)
        unknown = sorted(set(options) - known)
        if unknown and not open_ended:
            raise ConfigError(
                f"unknown option(s) for {self.category} {self.name!r}: {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        return factory(**options)


def _option_names(factory: Any) -> tuple[set[str], bool]:
    """The keyword options a factory accepts, and whether it takes any (``**options``
    that nothing checks). A class whose ``__init__`` forwards ``**options`` to its
    parent's accepts the parent's options too: those with defaults (a parent's
    parameters without one are what the subclass passes itself)."""
    if isinstance(factory, type):
        inits = [c.__dict__["__init__"] for c in factory.__mro__[:-1] if "__init__" in c.__dict__]
    else:
        inits = [factory]
    names: set[str] = set()
    for depth, init in enumerate(inits):
        try:
            parameters = list(inspect.signature(init).parameters.values())
        except (TypeError, ValueError):  # a builtin without a signature: it checks itself
            return names, True
        names |= {
            p.name
            for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name != "self"
            and (depth == 0 or p.default is not p.empty)
        }
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return names, False
    return names, bool(inits)  # forwarded past the last __init__, or none but object's


@attrs.frozen
class PluginStatus:
    """One plugin module: ``ok``, ``broken`` (with the reason) or ``disabled``."""

    name: str
    distribution: str
    version: str
    status: str
    reason: str = ""


def _disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


class Registry:
    """Loaded plugins and their records. Build with :meth:`discover` (entry points) or
    pass plugin modules explicitly (tests, embedding applications)."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager("q2mm")
        self._pm.add_hookspecs(hookspecs)
        self.statuses: list[PluginStatus] = []
        self._records: dict[tuple[str, str], PluginRecord] = {}

    @classmethod
    def discover(cls, extra: Iterable[tuple[str, types.ModuleType]] = ()) -> Registry:
        registry = cls()
        disabled = _disabled_names()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else ""
            version = ep.dist.version if ep.dist is not None else ""
            if ep.name in disabled or dist in disabled:
                registry.statuses.append(
                    PluginStatus(ep.name, dist, version, "disabled", f"listed in {DISABLE_ENV}")
                )
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the rest down
                registry.statuses.append(
                    PluginStatus(
                        ep.name, dist, version, "broken", f"import failed: {type(exc).__name__}: {exc}"
                    )
                )
                continue
            registry.add(ep.name, module, dist, version)
        for name, module in extra:
            registry.add(name, module, name, "")
        return registry

    def add(self, name: str, module: types.ModuleType, distribution: str = "", version: str = "") -> None:
        """Register one plugin module and collect its records."""
        api = getattr(module, "Q2MM_PLUGIN_API", None)
        if api != PLUGIN_API_VERSION:
            reason = (
                f"built for q2mm plugin API {api}; this q2mm-core speaks {PLUGIN_API_VERSION}"
                if api is not None
                else "does not declare Q2MM_PLUGIN_API"
            )
            self.statuses.append(PluginStatus(name, distribution, version, "broken", reason))
            return
        # Entry-point names need not be unique across distributions; pluggy's must be.
        pm_name = f"{name}@{distribution}" if distribution else name
        try:
            self._pm.register(module, name=pm_name)
            records = list(self._records_from(pm_name, name, distribution, version))
        except PluginConflictError:
            raise
        except Exception as exc:  # noqa: BLE001
            if self._pm.is_registered(module):
                self._pm.unregister(module)
            self.statuses.append(
                PluginStatus(name, distribution, version, "broken", f"{type(exc).__name__}: {exc}")
            )
            return
        for record in records:
            key = (record.category, record.name)
            if key in self._records:
                other = self._records[key]
                raise PluginConflictError(
                    f"{record.category} name {record.name!r} is claimed by two plugins: "
                    f"{other.distribution or other.plugin} (plugin {other.plugin!r}) and "
                    f"{record.distribution or record.plugin} (plugin {record.plugin!r}); "
                    f"uninstall one or block it with {DISABLE_ENV}"
                )
            self._records[key] = record
        self.statuses.append(PluginStatus(name, distribution, version, "ok"))

    def _records_from(self, pm_name: str, name: str, distribution: str, version: str):
        for hook_name, category in _HOOK_CATEGORY.items():
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name != pm_name:
                    continue
                for record in impl.function() or ():
                    if not isinstance(record, PluginRecord):
                        raise TypeError(f"{hook_name} returned {type(record).__name__}, not PluginRecord")
                    if category is not None and record.category != category:
                        raise TypeError(f"{hook_name} returned a record of category {record.category!r}")
                    yield attrs.evolve(record, plugin=name, distribution=distribution, version=version)

    def records(self, category: str | None = None) -> list[PluginRecord]:
        return sorted(
            (r for r in self._records.values() if category is None or r.category == category),
            key=lambda r: (CATEGORIES.index(r.category), r.name),
        )

    def names(self, category: str) -> list[str]:
        return [r.name for r in self.records(category)]

    def get(self, category: str, name: str) -> PluginRecord:
        try:
            return self._records[(category, name)]
        except KeyError:
            installed = ", ".join(self.names(category)) or "none"
            hint = ""
            broken = [s for s in self.statuses if s.status != "ok"]
            if broken:
                hint = "; not loaded: " + ", ".join(f"{s.name} ({s.status}: {s.reason})" for s in broken)
            raise UnknownPluginError(
                f"no {category} named {name!r} is installed; installed: {installed}{hint}"
            ) from None

    def create(self, category: str, name: str, **options: Any) -> Any:
        return self.get(category, name).create(**options)

    def by_suffix(self, category: str, path: str) -> PluginRecord:
        lower = str(path).lower()
        matches = [r for r in self.records(category) if any(lower.endswith(s) for s in r.suffixes)]
        if not matches:
            known = ", ".join(s for r in self.records(category) for s in r.suffixes)
            raise UnknownPluginError(f"no {category} reads or writes {path!r}; known suffixes: {known}")
        return max(matches, key=lambda r: max(len(s) for s in r.suffixes if lower.endswith(s)))


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, discovered once."""
    global _registry
    if _registry is None:
        _registry = Registry.discover()
    return _registry


def reset_registry() -> None:
    """Forget the discovered plugins (after installing one at run time, or in tests)."""
    global _registry
    _registry = None
