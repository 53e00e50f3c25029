"""Figure provenance: every PNG of a figures folder must come from the run its manifest describes."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from noble.pipeline import runner  # noqa: E402
from noble.pipeline.provenance import figure_provenance_problems, git_commit  # noqa: E402
from noble.plotting.style import PROVENANCE, save_figure, set_provenance  # noqa: E402

CELL = "human_pvalb_689331391"


def _figure(name, out):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    save_figure(fig, name, out, formats=("png",))
    plt.close(fig)


def test_figures_of_one_run_agree_with_their_manifest_and_disagreements_are_named(tmp_path):
    saved = dict(PROVENANCE)
    try:
        out = tmp_path / "figures"
        set_provenance(profile="quick", cell=CELL, commit=git_commit(), main_model_card_sha256=None)
        _figure("fig_a", out)
        _figure("fig_b", out)
        runner.write_manifest("quick", CELL, [], out, tmp_path / "runs")
        assert figure_provenance_problems(out) == []

        set_provenance(profile="laptop")  # a figure from another profile lands in the folder
        _figure("fig_b", out)
        problems = figure_provenance_problems(out)
        assert problems == ["fig_b.png: profile 'laptop', the manifest says 'quick'"]

        set_provenance(profile="quick", commit="0" * 40)  # ... or from an older commit
        _figure("fig_b", out)
        assert figure_provenance_problems(out) == [f"fig_b.png: commit '{'0' * 40}', the manifest says '{git_commit()}'"]

        fig, ax = plt.subplots()  # saved without save_figure: no provenance, not in the manifest
        fig.savefig(out / "stray.png")
        plt.close(fig)
        problems = figure_provenance_problems(out)
        assert "stray.png: not listed in the manifest" in problems and "stray.png: carries no provenance" in problems

        (out / "broken.png").write_bytes(b"png")  # a file that is not a PNG is reported, not a crash
        assert "broken.png: unreadable PNG (UnidentifiedImageError)" in figure_provenance_problems(out)
        (out / "broken.png").unlink()
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["model_card_sha256"] = {"main": "a" * 64}
        (out / "manifest.json").write_text(json.dumps(manifest))
        set_provenance(commit=git_commit(), main_model_card_sha256="b" * 64)
        _figure("fig_b", out)
        assert "fig_b.png: drawn with main model card bbbbbbbbbbbb, the manifest's is aaaaaaaaaaaa" in \
            figure_provenance_problems(out)
        assert figure_provenance_problems(tmp_path) == [f"{tmp_path / 'manifest.json'}: no manifest"]
    finally:
        PROVENANCE.clear()
        PROVENANCE.update(saved)


def test_the_committed_figures_come_from_one_laptop_run_with_the_shipped_main_model():
    """figures/ in the repository: every PNG carries the manifest's profile, commit and main model card, the
    manifest says laptop, and that card is the shipped pretrained one."""
    from pathlib import Path

    from noble.hashing import sha256_file
    from noble.pipeline.steps import pretrained_dir

    figures = Path(__file__).resolve().parent.parent / "figures"
    assert figure_provenance_problems(figures) == []
    manifest = json.loads((figures / "manifest.json").read_text())
    assert manifest["profile"] == "laptop" and manifest["cell"] == CELL
    assert len(manifest["commit"]) == 40
    shipped = pretrained_dir("laptop", CELL, "main") / "model_card.json"
    assert manifest["model_card_sha256"]["main"] == sha256_file(shipped)
