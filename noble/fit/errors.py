"""Errors of the fitting package."""
from __future__ import annotations

from noble.errors import NobleError


class FitError(NobleError):
    """A fit that cannot start or continue: bad bounds, no targets, a checkpoint that does not match..."""
