"""The project's own NMODL membrane mechanisms, their compilation cache and their loading into NEURON.

The NMODL sources in ``noble/mechanisms/nmodl/`` implement the ten channel and calcium mechanisms of the
all-active HoF models (NaV, Kv3_1, K_Pst, K_Tst, SK, Ca_HVA, Ca_LVA, CaDynamics, Ih, Im_v2) from the
mathematical specification in docs/mechanisms.md. Units are NEURON's: mV, ms, S/cm^2, mA/cm^2, mM.
"""
from noble.mechanisms.compile import (
    NMODL_DIR,
    NOBLE_MECHANISMS,
    MechanismCompileError,
    compile_mechanisms,
    mechanism_cache_dir,
    mod_files,
    source_digest,
)
from noble.mechanisms.loader import (
    MechanismConflictError,
    MechanismSet,
    MissingMechanismsError,
    load_mechanism_set,
    loaded_mechanism_set,
    mechanism_set,
    package_mechanism_dir,
)

__all__ = [
    "NMODL_DIR",
    "NOBLE_MECHANISMS",
    "MechanismCompileError",
    "MechanismConflictError",
    "MechanismSet",
    "MissingMechanismsError",
    "compile_mechanisms",
    "load_mechanism_set",
    "loaded_mechanism_set",
    "mechanism_cache_dir",
    "mechanism_set",
    "mod_files",
    "package_mechanism_dir",
    "source_digest",
]
