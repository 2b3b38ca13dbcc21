"""Choosing an OpenMM platform: by name, never with a silent fall-back.

OpenMM would quietly pick another platform when none is named; a fit must run where
the user asked or stop with an error that says what is available here (the PyPI
wheel offers Reference and CPU; CUDA needs the separate ``openmm-cuda-12`` wheel and a
GPU; OpenCL needs a system ICD loader).

Precision: CUDA, OpenCL and HIP have a ``Precision`` property (single, mixed, double);
this engine asks for double there unless told otherwise, because finite-difference
Hessians and parameter derivatives need it. Reference is double only. The CPU
platform has no such property; its single-precision kernels serve ``NonbondedForce``
and friends, which this engine never uses — every force here is a bonded or custom
bonded force that CPU evaluates with the same double-precision code as Reference
(the tests check the two agree to the last bits), so it reports ``double`` too.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import openmm
from q2mm.errors import ConfigError

#: Precision of the platforms that have no ``Precision`` property, for the forces this
#: engine builds.
FIXED_PRECISION = {"Reference": "double", "CPU": "double"}
DEFAULT_PRECISION = "double"


class PlatformUnavailableError(ConfigError):
    """The OpenMM platform asked for is not available in this installation."""


def available_platforms() -> list[str]:
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


@attrs.frozen
class PlatformChoice:
    """A validated platform name, its precision and the properties passed to each
    Context. Plain strings, so engines and sessions pickle (worker processes look the
    platform up again by name)."""

    name: str
    precision: str
    properties: tuple[tuple[str, str], ...] = ()

    def platform(self) -> openmm.Platform:
        return openmm.Platform.getPlatformByName(self.name)

    def context_properties(self) -> dict[str, str]:
        return dict(self.properties)


def choose_platform(name: str, precision: str | None, properties: Mapping[str, object]) -> PlatformChoice:
    """Validate ``name``, ``precision`` and extra platform ``properties`` (e.g.
    ``Threads="1"`` for CPU) against what OpenMM offers here."""
    available = available_platforms()
    if name not in available:
        raise PlatformUnavailableError(
            f"OpenMM platform {name!r} is not available here; available: {', '.join(available)}"
        )
    platform = openmm.Platform.getPlatformByName(name)
    known = set(platform.getPropertyNames())
    props = {str(k): str(v) for k, v in properties.items()}
    unknown = sorted(set(props) - known)
    if unknown:
        raise ConfigError(
            f"OpenMM platform {name!r} has no property {', '.join(unknown)}; "
            f"its properties: {', '.join(sorted(known)) or 'none'}"
        )
    if "Precision" in props:
        raise ConfigError("give the OpenMM precision as precision=..., not as a platform property")
    if "Precision" in known:
        chosen = precision or DEFAULT_PRECISION
        props["Precision"] = chosen
    else:
        chosen = FIXED_PRECISION.get(name, "platform default")
        if precision is not None and precision != chosen:
            raise ConfigError(
                f"OpenMM platform {name!r} computes in {chosen} precision only; asked for {precision!r}"
            )
    return PlatformChoice(name, chosen, tuple(sorted(props.items())))
