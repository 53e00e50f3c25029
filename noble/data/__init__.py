"""Cell packages: registry, typed HoF parameters, features, fetching and the Allen adapter."""
from noble.data.cell import Cell, HofModel, Split, load_cell
from noble.data.params import KNOWN_MECHANISMS, ModelParameters, SectionParameters, load_model_parameters
from noble.data.registry import CELLS, DEFAULT_CELL, CellSpec, cell_spec

__all__ = [
    "CELLS",
    "DEFAULT_CELL",
    "KNOWN_MECHANISMS",
    "Cell",
    "CellSpec",
    "HofModel",
    "ModelParameters",
    "SectionParameters",
    "Split",
    "cell_spec",
    "load_cell",
    "load_model_parameters",
]
