"""Plugin records say what their objects are before anything heavy is imported; this
checks that they tell the truth. A record's name, capabilities and suffixes are
written once in a light plugin module and read by ``q2mm plugins`` and by run-time
lookups; the object its factory makes declares the same facts again. Any plugin
package runs :func:`record_mismatches` over its records in its tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..plugins import PluginRecord
from ..protocols import Engine, Executor, ForceFieldFormat, Optimizer, StructureFormat


def _engine(record: PluginRecord, engine: Any) -> list[str]:
    declared = {str(c) for c in engine.capabilities}
    out = (
        []
        if declared == set(record.capabilities)
        else [f"capabilities: record {sorted(record.capabilities)}, engine {sorted(declared)}"]
    )
    return out + _same("name", record.name, engine.name)


def _optimizer(record: PluginRecord, optimizer: Any) -> list[str]:
    """An optimizer's capabilities are what it requires of the objective."""
    required = set(optimizer.requires)
    out = (
        []
        if required == set(record.capabilities)
        else [f"capabilities: record {sorted(record.capabilities)}, optimizer requires {sorted(required)}"]
    )
    return out + _same("name", record.name, optimizer.name)


def _format(record: PluginRecord, fmt: Any) -> list[str]:
    return _same("name", record.name, fmt.name) + _same(
        "suffixes", tuple(record.suffixes), tuple(fmt.suffixes)
    )


def _executor(record: PluginRecord, executor: Any) -> list[str]:
    executor.shutdown()
    return []


#: The protocol each category's objects implement.
_PROTOCOLS = {
    "engine": Engine,
    "optimizer": Optimizer,
    "format": ForceFieldFormat,
    "reader": StructureFormat,
    "executor": Executor,
}


def _loads(record: PluginRecord, _obj: Any) -> list[str]:
    return []


def _same(what: str, declared: Any, actual: Any) -> list[str]:
    return [] if declared == actual else [f"{what}: record {declared!r}, object {actual!r}"]


#: Per plugin category: how to make the object from its record, and how to compare.
_CHECKS: dict[str, tuple[Callable[[PluginRecord], Any], Callable[[PluginRecord, Any], list[str]]]] = {
    "engine": (PluginRecord.create, _engine),
    "optimizer": (PluginRecord.create, _optimizer),
    "format": (PluginRecord.create, _format),
    "reader": (PluginRecord.create, _format),
    "executor": (PluginRecord.create, _executor),
    "residual": (PluginRecord.load, _loads),
}


def record_mismatches(record: PluginRecord) -> list[str]:
    """What the record declares that its object (made with default options) does not
    — empty when they agree."""
    make, compare = _CHECKS.get(record.category, (PluginRecord.load, _loads))
    obj = make(record)
    protocol = _PROTOCOLS.get(record.category)
    wrong = (
        [] if protocol is None or isinstance(obj, protocol) else [f"does not implement {protocol.__name__}"]
    )
    return [f"{record.category} {record.name!r}: {m}" for m in wrong + compare(record, obj)]
