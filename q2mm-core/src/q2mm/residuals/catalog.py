"""Records of the built-in residual kinds (light: names and factories only).

A residual record's factory builds the residual of one term; the record's
capabilities say how the objective calls it (its *scope*):

- ``"structure"``: ``build(molecule, system, **options)`` once per structure; the
  residual's ``evaluate`` gets that structure's MM quantities;
- ``"group"``: ``build(molecules, systems, **options)`` once per group of structures;
  ``evaluate`` gets, for each need, the list of the members' MM quantities;
- ``"global"``: ``build(space, **options)`` once per objective; ``evaluate`` gets
  ``{"values": full parameter vector}``.

A record without a scope capability is a per-structure residual. Factories that take
``ts_method`` receive the run's transition-state method unless the term's options
set it.
"""

from ..plugins import PluginRecord

SCOPES = ("structure", "group", "global")

RESIDUALS = [
    PluginRecord(
        "eigenmatrix",
        "residual",
        "q2mm.residuals.eigenmatrix:build",
        capabilities={"structure"},
        description="MM Hessian projected on the QM normal modes vs the QM eigenvalues (Hartree/Bohr²/amu)",
    ),
    PluginRecord(
        "frequency",
        "residual",
        "q2mm.residuals.frequency:build",
        capabilities={"structure"},
        description="MM frequencies paired with QM modes by eigenvector overlap (cm⁻¹)",
    ),
    PluginRecord(
        "hessian",
        "residual",
        "q2mm.residuals.hessian:build",
        capabilities={"structure"},
        description="Cartesian Hessian elements at the QM geometry (Hartree/Bohr²)",
    ),
    PluginRecord(
        "geometry",
        "residual",
        "q2mm.residuals.geometry:build",
        capabilities={"structure"},
        description="bonds, angles, torsions of the MM-relaxed structure vs QM (Å, rad)",
    ),
    PluginRecord(
        "stability",
        "residual",
        "q2mm.residuals.stability:build",
        capabilities={"structure"},
        description="MM curvatures at the QM geometry below a floor (Hartree/Bohr²/amu; zero at a minimum)",
    ),
    PluginRecord(
        "energy",
        "residual",
        "q2mm.residuals.energy:build",
        capabilities={"group"},
        description="relative energies within a group of structures (kcal/mol)",
    ),
    PluginRecord(
        "tether",
        "residual",
        "q2mm.residuals.tether:build",
        capabilities={"global"},
        description="fitted parameters relative to their starting values",
    ),
]
