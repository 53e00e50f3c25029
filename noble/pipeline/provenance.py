"""Where a run's results come from: the git commit of the checkout (``unknown`` outside a git checkout), and a
check that the figures of a folder all come from the run its ``manifest.json`` describes."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from noble.paths import project_root
from noble.plotting.style import read_png_provenance


def git_commit() -> str:
    """The checkout's HEAD commit, or ``unknown``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True,
                             check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def figure_provenance_problems(folder: str | Path) -> list[str]:
    """Every disagreement between the PNG figures directly in ``folder`` and its ``manifest.json``: a figure
    without provenance, from another profile, cell or commit, or drawn with another main model than the
    manifest's (model-card SHA-256), and a figure the manifest does not list. Empty when all agree."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return [f"{manifest_path}: no manifest"]
    manifest = json.loads(manifest_path.read_text())
    listed = set(manifest.get("files", []))
    expected = {"profile": manifest.get("profile"), "cell": manifest.get("cell"), "commit": manifest.get("commit")}
    main_card = (manifest.get("model_card_sha256") or {}).get("main")
    problems = []
    for png in sorted(folder.glob("*.png")):
        if png.name not in listed:
            problems.append(f"{png.name}: not listed in the manifest")
        try:
            prov = read_png_provenance(png)
        except (OSError, ValueError) as exc:  # not a readable PNG (PIL's UnidentifiedImageError is an OSError)
            problems.append(f"{png.name}: unreadable PNG ({exc.__class__.__name__})")
            continue
        if not prov:
            problems.append(f"{png.name}: carries no provenance")
            continue
        for key, want in expected.items():
            if prov.get(key) != want:
                problems.append(f"{png.name}: {key} {prov.get(key)!r}, the manifest says {want!r}")
        card = prov.get("main_model_card_sha256")
        if card is not None and card != main_card:
            problems.append(f"{png.name}: drawn with main model card {card[:12]}, the manifest's is "
                            f"{(main_card or 'none')[:12]}")
    return problems


__all__ = ["figure_provenance_problems", "git_commit"]
