"""The version of noble (one place; recorded in data cards and model cards)."""

__version__ = "0.1.0"
