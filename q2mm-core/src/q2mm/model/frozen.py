"""Read-only mappings for frozen model objects, picklable so that systems and force
fields travel to process-pool workers (``MappingProxyType`` alone cannot be pickled)."""

from __future__ import annotations

import copyreg
import types
from collections.abc import Mapping


def frozen_mapping(mapping: Mapping) -> types.MappingProxyType:
    return types.MappingProxyType(dict(mapping))


copyreg.pickle(types.MappingProxyType, lambda m: (frozen_mapping, (dict(m),)))
