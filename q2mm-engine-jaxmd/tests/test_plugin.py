"""The plugin record: listed without importing JAX or jax-md, and true to its object."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from q2mm.plugins import Registry
from q2mm.testing.records import record_mismatches


def test_listing_imports_neither_jax_nor_jax_md():
    code = """
        import sys
        from q2mm.plugins import Registry
        record = Registry.discover().get("engine", "jax-md")
        print(record.factory, "jax" in sys.modules, "jax_md" in sys.modules)
        """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["q2mm_engine_jaxmd.engine:JaxMdEngine", "False", "False"]


def test_record_matches_its_engine():
    assert record_mismatches(Registry.discover().get("engine", "jax-md")) == []
