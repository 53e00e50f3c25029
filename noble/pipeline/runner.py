"""Run the ordered notebooks headlessly with papermill, skipping steps whose inputs have not changed."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py

from noble.data.registry import CELLS, DEFAULT_CELL
from noble.errors import NobleError
from noble.hashing import sha256_bytes
from noble.paths import project_root
from noble.pipeline.layout import FIGURES_DIR_ENV, RunLayout, figures_dir, work_dir
from noble.pipeline.profiles import get_profile
from noble.pipeline.provenance import figure_provenance_problems, git_commit
from noble.pipeline.status import collect, render_markdown, replace_readme_block, skipped_items
from noble.pipeline.steps import output_dir

NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
#: Arguments of every notebook kernel: only errors in the kernel's own log (no TCP-transport warning per notebook).
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=40",)


class PipelineRunError(NobleError):
    """A notebook of the pipeline failed; the executed copy shows where."""


@dataclass(frozen=True)
class StepResult:
    notebook: str
    status: str  # "ran" | "skipped" | "failed"
    seconds: float  # wall time of this call (0 when skipped)
    output: Path
    last_run_seconds: float | None = None  # wall time of the run whose results are reused (when skipped)


def ordered_notebooks(folder: Path | None = None) -> list[Path]:
    """The pipeline notebooks ``NN_name.ipynb`` in numeric order."""
    folder = folder or project_root() / "notebooks"
    return sorted((p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name)), key=lambda p: p.name)


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
    return sha256_bytes(notebook.read_bytes() + payload + previous.encode() + library.encode())


def _file_sha256(path: Path) -> str | None:
    return sha256_bytes(path.read_bytes()) if path.is_file() else None


def _data_card_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None

    with h5py.File(path, "r") as f:
        card = f.attrs.get("data_card")
    if card is None:
        return None
    return sha256_bytes(card.encode() if isinstance(card, str) else bytes(card))


def write_manifest(profile: str, cell: str, results: list[StepResult], out_dir: Path, base: Path) -> Path:
    """``manifest.json`` in ``out_dir``: profile, commit, data and model card checksums (SHA-256 of each
    dataset's data card, of each model's ``model_card.json`` by tag), wall time per notebook, output files."""
    layout = RunLayout.for_run(profile, cell, base)
    other_cells = set(CELLS) - {cell}
    figures = sorted(
        str(p.relative_to(out_dir)) for p in out_dir.rglob("*")
        if p.suffix in {".png", ".pdf", ".csv"} and not (set(p.relative_to(out_dir).parts[:-1]) & other_cells)
    )
    model_cards = {
        d.name: _file_sha256(d / "model_card.json")
        for d in sorted(layout.model_dir.glob("*")) if (d / "model_card.json").is_file()
    } if layout.model_dir.is_dir() else {}
    model_sources = {}
    if layout.model_dir.is_dir():
        for d in sorted(layout.model_dir.glob("*")):
            step = d / "pipeline_step.json"
            if step.is_file():
                try:
                    model_sources[d.name] = json.loads(step.read_text()).get("source", "trained in this run folder")
                except json.JSONDecodeError:
                    model_sources[d.name] = "unreadable pipeline_step.json"
    manifest = {
        "profile": profile,
        "cell": cell,
        "commit": git_commit(),
        "data_card_sha256": {
            p.name: _data_card_sha256(p)
            for p in (layout.train_data, layout.unseen_currents_data, layout.test_hofs_data, layout.fi_data)
        },
        "model_card_sha256": model_cards,
        "model_sources": model_sources,
        "items_skipped": skipped_items(layout.results_dir, profile),  # paper items the cell package cannot support
        "notebooks": [
            {"notebook": r.notebook, "status": r.status, "wall_time_s": round(r.seconds, 2),
             "last_run_wall_time_s": None if r.last_run_seconds is None else round(r.last_run_seconds, 2)}
            for r in results
        ],
        "total_wall_time_s": round(sum(r.seconds for r in results), 2),
        "files": figures,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def default_figures_root(profile: str) -> Path:
    """Where a run's figures go by default: the committed ``figures/`` (or $NOBLE_FIGURES_DIR), except for the
    ``quick`` profile, whose figures prove plumbing only and go to ``build/figures-quick``."""

    if profile == "quick" and not os.environ.get(FIGURES_DIR_ENV):
        return project_root() / "build" / "figures-quick"
    return figures_dir()


def read_state(path: Path) -> dict[str, dict[str, Any]]:
    """The runner's record of the last successful run of each notebook: ``{name: {"key", "seconds"}}``."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(v, dict) and isinstance(v.get("key"), str)}


def build_dir(profile: str, cell: str) -> Path:
    """Where executed copies of the notebooks of a (profile, cell) run go."""
    return project_root() / "build" / "notebooks" / profile / cell


def run_pipeline(
    profile: str,
    cell: str = "human_pvalb_689331391",
    notebooks: list[Path] | None = None,
    base: Path | None = None,
    out_dir: Path | None = None,
    force: bool = False,
    kernel: str = "python3",
    build: Path | None = None,
    execute=None,
    stream_output: bool = True,
) -> list[StepResult]:
    """Execute every notebook in order with papermill; return what ran and what was skipped.

    A notebook is skipped when its cache key (its source, its parameters, the previous step's key and the
    library's sources) equals the one of its last successful run and its executed copy exists; once one step
    runs, every later step's key changes, so they run too. ``figures/manifest.json`` (in the cell's output
    folder, see :func:`noble.pipeline.steps.output_dir`) records the run. ``execute`` replaces
    ``papermill.execute_notebook`` (same arguments), e.g. in tests. With ``stream_output`` the cells' output
    (progress lines included) is streamed to the log while a notebook runs.
    """
    if execute is None:
        import papermill  # lazy: papermill (a slow import) only when notebooks run

        execute = papermill.execute_notebook
    get_profile(profile)  # validates the name
    base = Path(base) if base is not None else work_dir()
    out_root = Path(out_dir) if out_dir is not None else default_figures_root(profile)
    build = Path(build) if build is not None else build_dir(profile, cell)
    build.mkdir(parents=True, exist_ok=True)
    state_path = build / "state.json"
    state = {} if force else read_state(state_path)
    library = library_fingerprint()
    previous = ""
    results: list[StepResult] = []
    books = notebooks if notebooks is not None else ordered_notebooks()
    if not books:
        raise PipelineRunError(f"no pipeline notebooks (NN_name.ipynb) in {project_root() / 'notebooks'}")
    manifest_dir = output_dir(out_root, cell)
    for nb in books:
        params = {"profile": profile, "cell": cell, "work_dir": str(base), "figures_dir": str(out_root)}
        key = step_key(nb, params, previous, library)
        output = build / nb.name
        last = state.get(nb.name, {})
        if last.get("key") == key and output.is_file() and _outputs_intact(last.get("outputs", {}), out_root):
            results.append(StepResult(nb.name, "skipped", 0.0, output, last.get("seconds")))
            print(f"[noble] {nb.name}: unchanged, skipped", flush=True)
        else:
            print(f"[noble] {nb.name}: running (profile {profile}, cell {cell})", flush=True)
            start = time.perf_counter()
            wall_start = time.time()
            try:
                execute(str(nb), str(output), parameters=params, kernel_name=kernel, cwd=str(nb.parent),
                        progress_bar=False, log_output=stream_output, extra_arguments=list(KERNEL_ARGUMENTS))
            except Exception as exc:
                results.append(StepResult(nb.name, "failed", time.perf_counter() - start, output))
                state.pop(nb.name, None)
                state_path.write_text(json.dumps(state, indent=2))
                write_manifest(profile, cell, results, manifest_dir, base)
                raise PipelineRunError(
                    f"{nb.name} failed ({type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''});"
                    f" the executed notebook is {output}"
                ) from exc
            seconds = time.perf_counter() - start
            results.append(StepResult(nb.name, "ran", seconds, output))
            state[nb.name] = {"key": key, "seconds": round(seconds, 2),
                              "outputs": _outputs_since(out_root, wall_start)}
            state_path.write_text(json.dumps(state, indent=2))
            print(f"[noble] {nb.name}: done in {seconds:.0f} s", flush=True)
        previous = key
    write_manifest(profile, cell, results, manifest_dir, base)
    write_status(profile, cell, manifest_dir, base, update_readme=manifest_dir == project_root() / "figures")
    problems = figure_provenance_problems(manifest_dir)
    for problem in problems:
        print(f"[noble] provenance: {problem}", flush=True)
    if not problems:
        print(f"[noble] every figure in {manifest_dir} comes from this run (profile {profile}, commit {git_commit()[:12]})",
              flush=True)
    return results


def _outputs_since(out_root: Path, since: float) -> dict[str, str]:
    """Files under ``out_root`` written at or after ``since`` (epoch seconds), with their SHA-256."""
    if not out_root.is_dir():
        return {}
    return {str(p.relative_to(out_root)): _file_sha256(p) for p in sorted(out_root.rglob("*"))
            if p.is_file() and p.stat().st_mtime >= since - 1.0 and p.name not in ("manifest.json", "status.json",
                                                                                  "status.md")}


def _outputs_intact(outputs: dict[str, str], out_root: Path) -> bool:
    """Whether every output a notebook wrote is still there, unchanged (else it reruns)."""
    return all(_file_sha256(out_root / rel) == sha for rel, sha in outputs.items())


def write_status(profile: str, cell: str, out_dir: Path, base: Path, update_readme: bool = False) -> Path:
    """``status.json`` and ``status.md`` in ``out_dir`` from the statuses the notebooks recorded; with
    ``update_readme`` also the README's status table (only for the committed figures of the PVALB cell)."""
    layout = RunLayout.for_run(profile, cell, base)
    rows = collect(layout.results_dir, out_dir, profile)
    commit = git_commit()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "status.json").write_text(json.dumps({"profile": profile, "cell": cell, "commit": commit,
                                                     "items": rows}, indent=2) + "\n")
    md = render_markdown(rows, profile, commit)
    path = out_dir / "status.md"
    path.write_text(md)
    readme = project_root() / "README.md"
    if update_readme and cell == DEFAULT_CELL and profile != "quick" and readme.is_file():
        text = readme.read_text()
        try:
            readme.write_text(replace_readme_block(text, md))
        except ValueError:
            pass  # a README without the status markers is left alone
    return path
