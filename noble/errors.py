"""Exceptions with messages that name the file and the problem."""
from __future__ import annotations


class NobleError(Exception):
    """Base class of every error noble raises on purpose."""


class DataError(NobleError):
    """A cell package or data file is missing, malformed or inconsistent."""


class ChecksumError(DataError):
    """A file's SHA-256 differs from the pinned value."""


class DownloadError(DataError):
    """A file could not be downloaded."""


class UnknownCellError(DataError):
    """A cell name that the registry does not know."""


class UnknownMechanismError(DataError):
    """A model file names a membrane mechanism that noble cannot simulate."""


class AnalysisError(NobleError):
    """An analysis that cannot run on the given inputs (amplitude not simulated, no spiking trace...)."""
