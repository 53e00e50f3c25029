"""Status labels come from numbers: the rules of noble.pipeline.status on hand-made metrics, the README block."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from noble.pipeline import status as st

PAPER = {"Voltage": 2.18, "Spikecount": 3.0}


def result(voltage, spikecount, rest=9.3, missed=0.0):
    return {"table1_pct": {"voltage": voltage, "Spikecount": spikecount},
            "baselines": {"constant_rest": {"table1_pct": {"voltage": rest}}},
            "firing": {"missed_firing_pct": missed}}


def test_reproduced_needs_voltage_and_spike_count_within_tolerance():
    assert st.judge(result(3.0, 4.0), PAPER, "laptop").label == "reproduced"
    assert st.judge(result(3.4, 4.0), PAPER, "laptop").label == "regenerated at laptop scale"  # 3.4 > 1.5 * 2.18
    assert st.judge(result(3.0, 9.0), PAPER, "laptop").label == "regenerated at laptop scale"


def test_a_silent_model_or_one_worse_than_a_flat_line_is_not_reproduced():
    silent = st.judge(result(10.8, float("nan"), missed=100.0), PAPER, "laptop")
    assert silent.label == "not reproduced" and "constant rest 9.3%" in silent.detail
    assert st.judge(result(9.5, 60.0, rest=9.3, missed=10.0), PAPER, "laptop").label == "not reproduced"


def test_combine_takes_the_weakest():
    good, bad = st.Status("reproduced", "a"), st.Status("not reproduced", "b")
    assert st.combine([good, bad]).label == "not reproduced"
    assert st.combine([good, good]).detail == "a; a"


def test_collect_uses_records_only_for_existing_outputs(tmp_path):
    results, figs = tmp_path / "results", tmp_path / "figs"
    figs.mkdir()
    (figs / "fig03_fi_and_traces.png").write_bytes(b"png")
    (figs / "fig08_amplitude_distribution.png").write_bytes(b"png")
    st.record(results, "Fig 3", st.Status("not reproduced", "numbers"), "laptop")
    st.record(results, "Fig 12", st.Status("reproduced", "numbers"), "laptop")  # its figure is missing
    st.record(results, "Fig 13", st.Status("reproduced", "other profile"), "quick")
    rows = {r["item"]: r for r in st.collect(results, figs, "laptop")}
    assert rows["Fig 3"]["status"] == "not reproduced"
    assert rows["Fig 12"]["status"] == "not run"
    assert rows["Fig 13"]["status"] == "not run"
    assert rows["Fig 8"]["status"] == "regenerated from PDE simulations"
    assert rows["Fig 1"]["status"] == "schematic"
    with pytest.raises(ValueError, match="unknown paper item"):
        st.record(results, "Fig 99", st.Status("x", "y"), "laptop")


def test_readme_block_round_trip():
    text = f"intro\n{st.README_BEGIN}\nold\n{st.README_END}\nrest\n"
    new = st.replace_readme_block(text, "| new |\n")
    assert st.readme_block(new) == "| new |\n" and new.endswith("rest\n") and new.startswith("intro\n")
    with pytest.raises(ValueError, match="markers"):
        st.replace_readme_block("no block", "x")


def test_committed_readme_shows_the_committed_status():
    root = Path(__file__).resolve().parent.parent
    data = json.loads((root / "figures" / "status.json").read_text())
    block = st.readme_block((root / "README.md").read_text())
    assert block == st.render_markdown(data["items"], data["profile"], data["commit"])
    assert (root / "figures" / "status.md").read_text() == block
    manifest = json.loads((root / "figures" / "manifest.json").read_text())
    assert manifest["profile"] == data["profile"]
    assert not any(r["status"] == "Reproduced" for r in data["items"])  # no hand-written label


def test_recipe_targets_read_the_measured_numbers():
    from noble.pipeline.reports import recipe_targets

    def res(missed, count, v, ss, rest_v):
        return {"firing": {"missed_firing_pct": missed, "spike_count_rel_err_pct": count},
                "voltage_rel_l2": {"mean_pct": v}, "table1_pct": {"steady_state_voltage": ss},
                "baselines": {"constant_rest": {"voltage_rel_l2": {"mean_pct": rest_v}, "firing": {},
                                                "table1_pct": {}}}}

    table = recipe_targets({"train_hofs_unseen_currents": res(8.0, 20.0, 4.0, 0.9, 9.3),
                            "test_hofs": res(25.0, 30.0, 9.0, 2.0, 9.0)},
                           {"spearman": 0.7, "spread_ratio": 0.4})
    met = table["met"].to_dict()
    assert met["missed firing (% of spiking traces) <= 10"] and not met["spike-count relative error (%) <= 15"]
    assert met["voltage relative L2 (%) <= 5"] and met["steady-state voltage error (%) <= 1"]
    assert not met["missed firing on test HoFs (%) <= 20"]
    assert table.loc["voltage relative L2 (%) <= 5", "constant rest"] == 9.3
    assert met["Spearman of spike counts across train HoFs at 0.1 nA >= 0.6"]
    assert not met["spread ratio NOBLE / PDE at 0.1 nA >= 0.5"]


def test_paper_references_are_data_by_cell_name():
    from noble.data.registry import CELLS
    from noble.pipeline.reports import PAPER_REFERENCES, paper_reference

    assert set(PAPER_REFERENCES) <= set(CELLS)  # every entry names a shipped cell
    pvalb = paper_reference("human_pvalb_689331391")
    assert set(pvalb) == {"train_hofs_unseen_currents", "test_hofs"}
    assert pvalb["train_hofs_unseen_currents"][1]["Voltage"] == 2.18  # Sec. 4.2 of the paper
    assert set(paper_reference("human_vip_685806972")) == {"train_hofs_unseen_currents"}
    assert paper_reference("mouse_pvalb_569998790") == {} and paper_reference("my_cell") == {}
    paper_reference("human_pvalb_689331391").clear()  # a copy: the table itself is not changed
    assert paper_reference("human_pvalb_689331391") == pvalb
