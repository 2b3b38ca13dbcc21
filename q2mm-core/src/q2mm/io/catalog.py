"""Records of the built-in file formats (light: names and factories only)."""

from ..plugins import PluginRecord

STRUCTURE_FORMATS = [
    PluginRecord(
        "gaussian-log",
        "reader",
        "q2mm.io.gaussian:GaussianLog",
        suffixes=(".log",),
        description="Gaussian output: archive block, orientations, frequencies, Hessian",
    ),
    PluginRecord(
        "gaussian-fchk",
        "reader",
        "q2mm.io.gaussian:GaussianFchk",
        suffixes=(".fchk", ".fch"),
        description="Gaussian formatted checkpoint: geometry, energy, Cartesian force constants",
    ),
    PluginRecord(
        "jaguar-in",
        "reader",
        "q2mm.io.jaguar:JaguarInput",
        suffixes=(".in",),
        description="Jaguar input with &hess block",
    ),
    PluginRecord(
        "jaguar-out",
        "reader",
        "q2mm.io.jaguar:JaguarOutput",
        suffixes=(".out",),
        description="Jaguar output: geometry, energy, frequencies, normal modes",
    ),
    PluginRecord(
        "numpy-bundle",
        "reader",
        "q2mm.io.numpy_bundle:NumpyBundle",
        suffixes=(".npy",),
        description="xyz + .npy Hessian (Hartree/Bohr²) + optional frequencies/energy text",
    ),
    PluginRecord(
        "xyz",
        "reader",
        "q2mm.io.xyz:XyzFormat",
        suffixes=(".xyz",),
        description="XYZ (plain or Tinker, detected from the content)",
    ),
    PluginRecord(
        "mol2",
        "reader",
        "q2mm.io.mol2:Mol2Format",
        suffixes=(".mol2",),
        description="Tripos mol2: atoms, SYBYL types, bonds",
    ),
    PluginRecord(
        "mae",
        "reader",
        "q2mm.io.macromodel:MaeFormat",
        suffixes=(".mae",),
        description="MacroModel/Maestro structures with atom types and bonds",
    ),
]

FORCEFIELD_FORMATS = [
    PluginRecord(
        "mm3-fld",
        "format",
        "q2mm.io.mm3_fld:MM3Fld",
        suffixes=(".fld",),
        description="MacroModel MM3* .fld (with OPT substructures)",
    ),
    PluginRecord(
        "tinker-prm",
        "format",
        "q2mm.io.tinker_prm:TinkerPrm",
        suffixes=(".prm", ".key"),
        description="Tinker parameter file (.prm, or .key with parameter lines)",
    ),
    PluginRecord(
        "amber-frcmod",
        "format",
        "q2mm.io.frcmod:Frcmod",
        suffixes=(".frcmod",),
        description="Amber frcmod: MASS, BOND, ANGL, DIHE, IMPR, NONB",
    ),
    PluginRecord(
        "openmm-xml",
        "format",
        "q2mm.io.openmm_xml:OpenMMXml",
        suffixes=(".xml",),
        description="OpenMM ForceField XML (standard and custom forces)",
    ),
    PluginRecord(
        "q2mm-json",
        "format",
        "q2mm.io.q2mm_json:Q2MMJson",
        suffixes=(".json",),
        description="q2mm's JSON force-field document (every row kind, canonical units)",
    ),
]
