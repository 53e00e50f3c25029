"""The notebook runner: ordering, skip logic, failure handling and the manifest (tiny notebooks in tmp dirs)."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from noble.pipeline.runner import (
    PipelineRunError,
    ordered_notebooks,
    read_state,
    run_pipeline,
    step_key,
    write_manifest,
    StepResult,
)

CELL = "human_pvalb_689331391"


def _notebook(path: Path, body: str) -> Path:
    params = new_code_cell('profile = "quick"\ncell = "x"\nwork_dir = None\nfigures_dir = None')
    params.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[params, new_code_cell(body)])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, str(path))
    return path


class FakeExecutor:
    """Stands in for papermill: records calls, writes the output notebook, can fail on a name."""

    def __init__(self, fail: str | None = None, writes: dict[str, str] | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.options: list[dict] = []
        self.fail = fail
        self.writes = writes or {}  # notebook name -> figure file it writes into figures_dir

    def __call__(self, src, dst, parameters, kernel_name, cwd, progress_bar, **options):
        self.calls.append((Path(src).name, dict(parameters)))
        self.options.append(options)
        if self.fail and Path(src).name == self.fail:
            raise RuntimeError("cell 2 raised ValueError: boom")
        if Path(src).name in self.writes:
            target = Path(parameters["figures_dir"]) / self.writes[Path(src).name]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"made by {Path(src).name}")
        Path(dst).write_text(Path(src).read_text())

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture()
def pipeline(tmp_path: Path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    books = [
        _notebook(folder / "02_second.ipynb", "y = 2"),
        _notebook(folder / "01_first.ipynb", "x = 1"),
        _notebook(folder / "10_tenth.ipynb", "z = 3"),
    ]
    (folder / "notes.ipynb").write_text("{}")  # not numbered: not a pipeline step
    return {"folder": folder, "books": books, "base": tmp_path / "runs", "out": tmp_path / "figs",
            "build": tmp_path / "build"}


def _run(p, execute, **kw):
    return run_pipeline("quick", CELL, notebooks=ordered_notebooks(p["folder"]), base=p["base"], out_dir=p["out"],
                        build=p["build"], execute=execute, **kw)


def test_ordered_notebooks_numeric_order_only_numbered(pipeline):
    names = [p.name for p in ordered_notebooks(pipeline["folder"])]
    assert names == ["01_first.ipynb", "02_second.ipynb", "10_tenth.ipynb"]


def test_runs_in_order_with_parameters_then_skips_unchanged(pipeline):
    first = FakeExecutor()
    results = _run(pipeline, first)
    assert first.names == ["01_first.ipynb", "02_second.ipynb", "10_tenth.ipynb"]
    assert [r.status for r in results] == ["ran", "ran", "ran"]
    params = first.calls[0][1]
    assert params == {"profile": "quick", "cell": CELL, "work_dir": str(pipeline["base"]),
                      "figures_dir": str(pipeline["out"])}
    second = FakeExecutor()
    results = _run(pipeline, second)
    assert second.names == []
    assert [r.status for r in results] == ["skipped"] * 3
    assert all(r.last_run_seconds is not None for r in results)


def test_change_reruns_that_step_and_every_later_one(pipeline):
    _run(pipeline, FakeExecutor())
    _notebook(pipeline["folder"] / "02_second.ipynb", "y = 22")
    again = FakeExecutor()
    results = _run(pipeline, again)
    assert again.names == ["02_second.ipynb", "10_tenth.ipynb"]
    assert [r.status for r in results] == ["skipped", "ran", "ran"]


def test_other_profile_or_missing_output_or_force_reruns(pipeline):
    _run(pipeline, FakeExecutor())
    (pipeline["build"] / "10_tenth.ipynb").unlink()
    again = FakeExecutor()
    _run(pipeline, again)
    assert again.names == ["10_tenth.ipynb"]
    forced = FakeExecutor()
    _run(pipeline, forced, force=True)
    assert len(forced.names) == 3
    other = FakeExecutor()
    run_pipeline("laptop", CELL, notebooks=ordered_notebooks(pipeline["folder"]), base=pipeline["base"],
                 out_dir=pipeline["out"], build=pipeline["build"], execute=other)
    assert len(other.names) == 3


def test_failure_stops_the_pipeline_and_is_not_cached(pipeline):
    failing = FakeExecutor(fail="02_second.ipynb")
    with pytest.raises(PipelineRunError, match="02_second.ipynb failed.*boom"):
        _run(pipeline, failing)
    assert failing.names == ["01_first.ipynb", "02_second.ipynb"]
    manifest = json.loads((pipeline["out"] / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["ran", "failed"]
    assert "02_second.ipynb" not in read_state(pipeline["build"] / "state.json")
    fixed = FakeExecutor()
    _run(pipeline, fixed)
    assert fixed.names == ["02_second.ipynb", "10_tenth.ipynb"]


def test_manifest_contents(pipeline, tmp_path):
    import h5py

    from noble.pipeline.layout import RunLayout

    layout = RunLayout.for_run("quick", CELL, pipeline["base"]).ensure()
    card = json.dumps({"cell": CELL, "what": "test"}, sort_keys=True)
    with h5py.File(layout.train_data, "w") as fh:
        fh.attrs["data_card"] = card
    (layout.model_dir / "main").mkdir(parents=True)
    (layout.model_dir / "main" / "model_card.json").write_text('{"name": "m"}')
    pipeline["out"].mkdir()
    (pipeline["out"] / "fig_a.png").write_bytes(b"png")
    (pipeline["out"] / "human_vip_685806972").mkdir()
    (pipeline["out"] / "human_vip_685806972" / "fig_a.png").write_bytes(b"png")
    _run(pipeline, FakeExecutor())
    manifest = json.loads((pipeline["out"] / "manifest.json").read_text())
    assert manifest["profile"] == "quick" and manifest["cell"] == CELL
    assert isinstance(manifest["commit"], str) and manifest["commit"]
    import hashlib

    expected = hashlib.sha256(card.encode()).hexdigest()
    assert manifest["data_card_sha256"]["train.h5"] == expected
    assert manifest["data_card_sha256"]["test_hofs.h5"] is None
    assert manifest["model_card_sha256"] == {"main": hashlib.sha256(b'{"name": "m"}').hexdigest()}
    assert [n["notebook"] for n in manifest["notebooks"]] == ["01_first.ipynb", "02_second.ipynb", "10_tenth.ipynb"]
    assert all(n["wall_time_s"] >= 0 for n in manifest["notebooks"])
    assert manifest["files"] == ["fig_a.png"]  # another cell's subfolder is not this run's


def test_other_cell_writes_its_manifest_in_its_subfolder(pipeline):
    run_pipeline("quick", "human_vip_685806972", notebooks=ordered_notebooks(pipeline["folder"]),
                 base=pipeline["base"], out_dir=pipeline["out"], build=pipeline["build"], execute=FakeExecutor())
    manifest = json.loads((pipeline["out"] / "human_vip_685806972" / "manifest.json").read_text())
    assert manifest["cell"] == "human_vip_685806972"
    assert not (pipeline["out"] / "manifest.json").exists()


def test_step_key_depends_on_inputs(tmp_path):
    nb = _notebook(tmp_path / "01_a.ipynb", "x = 1")
    base = step_key(nb, {"profile": "quick"}, "", "lib")
    assert base == step_key(nb, {"profile": "quick"}, "", "lib")
    assert base != step_key(nb, {"profile": "laptop"}, "", "lib")
    assert base != step_key(nb, {"profile": "quick"}, "prev", "lib")
    assert base != step_key(nb, {"profile": "quick"}, "", "lib2")


def test_real_papermill_injects_parameters(tmp_path):
    folder = tmp_path / "nb"
    folder.mkdir()
    _notebook(folder / "01_write.ipynb",
              "from pathlib import Path\nPath(figures_dir).mkdir(parents=True, exist_ok=True)\n"
              "Path(figures_dir, 'params.txt').write_text(f'{profile} {cell}')")
    out = tmp_path / "figs"
    results = run_pipeline("quick", CELL, notebooks=ordered_notebooks(folder), base=tmp_path / "runs", out_dir=out,
                           build=tmp_path / "build")
    assert (out / "params.txt").read_text() == f"quick {CELL}"
    executed = nbformat.read(str(results[0].output), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_manifest_records_skipped_wall_time(tmp_path):
    out = tmp_path / "figs"
    res = [StepResult("01_a.ipynb", "skipped", 0.0, tmp_path / "x", 12.5)]
    path = write_manifest("quick", CELL, res, out, tmp_path / "runs")
    data = json.loads(path.read_text())
    assert data["notebooks"][0] == {"notebook": "01_a.ipynb", "status": "skipped", "wall_time_s": 0.0,
                                    "last_run_wall_time_s": 12.5}


def test_a_deleted_or_modified_output_is_regenerated(pipeline):
    writes = {"02_second.ipynb": "fig_two.png"}
    _run(pipeline, FakeExecutor(writes=writes))
    figure = pipeline["out"] / "fig_two.png"
    assert figure.read_text() == "made by 02_second.ipynb"
    figure.unlink()
    again = FakeExecutor(writes=writes)
    _run(pipeline, again)
    assert again.names == ["02_second.ipynb"] and figure.is_file()
    figure.write_text("edited by hand")
    third = FakeExecutor(writes=writes)
    _run(pipeline, third)
    assert third.names == ["02_second.ipynb"]
    assert figure.read_text() == "made by 02_second.ipynb"
    assert _run(pipeline, FakeExecutor(writes=writes))[1].status == "skipped"


def test_kernels_run_quiet_and_stream_their_output(pipeline):
    from noble.pipeline.runner import KERNEL_ARGUMENTS

    ex = FakeExecutor()
    _run(pipeline, ex)
    assert all(o["extra_arguments"] == list(KERNEL_ARGUMENTS) and o["log_output"] for o in ex.options)


def test_quick_figures_never_go_to_the_committed_folder(monkeypatch):
    from noble.paths import project_root
    from noble.pipeline.runner import default_figures_root

    monkeypatch.delenv("NOBLE_FIGURES_DIR", raising=False)
    assert default_figures_root("quick") == project_root() / "build" / "figures-quick"
    assert default_figures_root("laptop") == project_root() / "figures"


def test_status_files_are_written_beside_the_manifest(pipeline):
    _run(pipeline, FakeExecutor())
    data = json.loads((pipeline["out"] / "status.json").read_text())
    assert data["profile"] == "quick" and len(data["items"]) == 20
    assert (pipeline["out"] / "status.md").read_text().startswith("Status computed from the measured numbers")
