"""Run the ordered notebooks headlessly with papermill, skipping steps whose inputs have not changed."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noble.pipeline.layout import RunLayout, figures_dir, work_dir
from noble.pipeline.profiles import get_profile
from noble.paths import project_root

NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")


@dataclass(frozen=True)
class StepResult:
    notebook: str
    status: str  # "ran" | "skipped"
    seconds: float
    output: Path


def ordered_notebooks(folder: Path | None = None) -> list[Path]:
    """The pipeline notebooks ``NN_name.ipynb`` in numeric order."""
    folder = folder or project_root() / "notebooks"
    return sorted((p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name)), key=lambda p: p.name)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_fingerprint() -> str:
    """SHA-256 over the noble package sources: a library change reruns every step."""
    h = hashlib.sha256()
    pkg = project_root() / "noble"
    for path in sorted(pkg.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".json", ".mod"} and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(pkg)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def step_key(notebook: Path, parameters: dict[str, Any], previous: str, library: str) -> str:
    """Cache key of one step: its notebook, parameters, the previous step's key and the library."""
    payload = json.dumps(parameters, sort_keys=True).encode()
    return _sha256_bytes(notebook.read_bytes() + payload + previous.encode() + library.encode())


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _file_sha256(path: Path) -> str | None:
    return _sha256_bytes(path.read_bytes()) if path.is_file() else None


def _data_card_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    import h5py

    with h5py.File(path, "r") as f:
        card = f.attrs.get("data_card")
    if card is None:
        return None
    return _sha256_bytes(card.encode() if isinstance(card, str) else bytes(card))


def write_manifest(profile: str, cell: str, results: list[StepResult], out_dir: Path, base: Path) -> Path:
    """``figures/manifest.json``: profile, commit, data and model card checksums, wall time per notebook."""
    layout = RunLayout.for_run(profile, cell, base)
    figures = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.suffix in {".png", ".pdf", ".csv"})
    manifest = {
        "profile": profile,
        "cell": cell,
        "commit": _git_commit(),
        "data_card_sha256": {
            p.name: _data_card_sha256(p)
            for p in (layout.train_data, layout.unseen_currents_data, layout.test_hofs_data, layout.fi_data)
        },
        "model_card_sha256": _file_sha256(layout.model_dir / "model_card.json"),
        "notebooks": [
            {"notebook": r.notebook, "status": r.status, "wall_time_s": round(r.seconds, 2)} for r in results
        ],
        "files": figures,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def run_pipeline(
    profile: str,
    cell: str = "human_pvalb_689331391",
    notebooks: list[Path] | None = None,
    base: Path | None = None,
    out_dir: Path | None = None,
    force: bool = False,
    kernel: str = "python3",
) -> list[StepResult]:
    """Execute every notebook in order with papermill; return what ran and what was skipped."""
    import papermill

    get_profile(profile)  # validates the name
    base = base or work_dir()
    out_dir = out_dir or figures_dir()
    build = project_root() / "build" / "notebooks" / profile / cell
    build.mkdir(parents=True, exist_ok=True)
    state_path = build / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() and not force else {}
    library = library_fingerprint()
    previous = ""
    results: list[StepResult] = []
    for nb in notebooks or ordered_notebooks():
        params = {"profile": profile, "cell": cell, "work_dir": str(base), "figures_dir": str(out_dir)}
        key = step_key(nb, params, previous, library)
        output = build / nb.name
        if state.get(nb.name) == key and output.is_file():
            results.append(StepResult(nb.name, "skipped", 0.0, output))
            print(f"[noble] {nb.name}: unchanged, skipped")
        else:
            print(f"[noble] {nb.name}: running (profile {profile})")
            start = time.perf_counter()
            papermill.execute_notebook(
                str(nb), str(output), parameters=params, kernel_name=kernel, cwd=str(nb.parent), progress_bar=False
            )
            results.append(StepResult(nb.name, "ran", time.perf_counter() - start, output))
            state[nb.name] = key
            state_path.write_text(json.dumps(state, indent=2))
        previous = key
    write_manifest(profile, cell, results, out_dir, base)
    return results
