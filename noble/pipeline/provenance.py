"""Where a run's results come from: the git commit of the checkout (``unknown`` outside a git checkout)."""
from __future__ import annotations

import subprocess

from noble.paths import project_root


def git_commit() -> str:
    """The checkout's HEAD commit, or ``unknown``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True,
                             check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


__all__ = ["git_commit"]
