"""Every pipeline notebook follows the conventions: numbered, a `parameters` cell first, no outputs, python3."""
from __future__ import annotations

import ast

import nbformat
import pytest

from noble.paths import project_root
from noble.pipeline.runner import NOTEBOOK_PATTERN, ordered_notebooks

NOTEBOOKS = ordered_notebooks()
EXPECTED_PARAMETERS = {"profile": "quick", "cell": "human_pvalb_689331391", "work_dir": None, "figures_dir": None}
MAX_CELL_LINES = 20
PIPELINE_ORDER = ("01_fetch_data", "02_fit_hof_models", "03_simulate_dataset", "04_train_noble", "05_evaluate")


def test_pipeline_notebooks_come_first_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert tuple(names[: len(PIPELINE_ORDER)]) == PIPELINE_ORDER
    numbers = [int(n[:2]) for n in names]
    assert len(set(numbers)) == len(numbers), "two notebooks share a number"
    strays = [p.name for p in (project_root() / "notebooks").glob("*.ipynb") if not NOTEBOOK_PATTERN.match(p.name)]
    assert strays == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_conventions(path):
    book = nbformat.read(str(path), as_version=4)
    nbformat.validate(book)
    assert book.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in book.cells if c.cell_type == "code"]
    first = code[0]
    assert "parameters" in first.metadata.get("tags", [])
    tree = ast.parse(first.source)
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}
    assert values == EXPECTED_PARAMETERS
    for cell in code:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, "commit without outputs"
        python = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        compile(python, f"{path.name}", "exec")
        assert len(cell.source.splitlines()) <= MAX_CELL_LINES, "keep cells thin: move logic into noble/"
    assert any("steps." in c.source for c in code), "the notebook should call the cached pipeline steps"
