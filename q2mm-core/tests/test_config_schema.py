"""The configuration schema is declared once, by the attrs classes in q2mm.config: the
documented listing, the accepted keys and the command line's choices all follow it."""

from __future__ import annotations

import re

import attrs
import click
import pytest
from q2mm import config
from q2mm.cli import main
from q2mm.estimate import Method, TSMethod
from q2mm.model import FunctionalForm, StationaryPoint

TABLES = {
    "": config.RunConfig,
    "forcefield": config.ForceFieldSpec,
    "parameters": config.ParameterSpec,
    "structures": config.StructureSpec,
    "topology": config.TopologySpec,
    "objective": config.ObjectiveSpec,
    "report": config.ReportSpec,
}


def documented_keys() -> dict[str, set[str]]:
    """Keys per table in the module docstring's listing: ``[table]`` / ``[[table]]``
    headers (a header itself is a key of the top level), then ``key = …`` lines."""
    keys: dict[str, set[str]] = {"": set()}
    table = ""
    for line in config.__doc__.split("Schema", 1)[1].splitlines():
        header = re.match(r"\s+\[\[?(\w+)\]\]?", line)
        entry = re.match(r"\s+(\w+)\s*=", line)
        if header:
            table = header.group(1)
            keys[""].add(table)
            keys.setdefault(table, set())
        elif entry:
            keys[table].add(entry.group(1))
    return keys


def test_the_documented_listing_names_every_key_of_every_table():
    documented = documented_keys()
    for table, cls in TABLES.items():
        assert documented[table] == set(config.schema(cls)), table


def test_the_schema_follows_the_field_types():
    assert config.schema(config.ForceFieldSpec)["write"] is list
    assert config.schema(config.ForceFieldSpec)["gamma"] is float
    assert config.schema(config.StructureSpec)["file"] is str
    assert config.schema(config.RunConfig)["structures"] is list
    assert "path" not in config.schema(config.RunConfig)


def test_choices_come_from_the_enums():
    assert config.ESTIMATE_METHODS == tuple(Method)
    assert config.TS_METHODS == tuple(TSMethod)
    assert config.STATIONARY_KINDS == tuple(StationaryPoint)
    assert config.FORMS == tuple(FunctionalForm)
    estimate = main.commands["estimate"]
    choices = {p.name: tuple(p.type.choices) for p in estimate.params if isinstance(p.type, click.Choice)}
    assert choices == {
        "method": config.ESTIMATE_METHODS,
        "ts_method": config.TS_METHODS,
        "kind": config.STATIONARY_KINDS,
        "form": config.FORMS,
    }


@pytest.mark.parametrize("table, cls", [(t, c) for t, c in TABLES.items() if t in ("topology", "parameters")])
def test_defaults_are_the_field_defaults(tmp_path, table, cls):
    (tmp_path / "x.npy").write_bytes(b"")
    (tmp_path / "q2mm.toml").write_text(
        '[forcefield]\nestimate = "qfuerza"\n[[structures]]\nfile = "x.npy"\nkind = "ground_state"\n'
    )
    loaded = config.load_config(tmp_path / "q2mm.toml")
    assert getattr(loaded, table) == cls()
    assert loaded.forcefield.gamma == attrs.fields(config.ForceFieldSpec).gamma.default
