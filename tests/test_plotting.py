"""The paper's figure and table functions on small synthetic arrays (units nA, mV, ms, Hz, %)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from noble.data.swc import SwcTable
from noble.plotting import figures_hof as fh
from noble.plotting import figures_predictions as fp
from noble.plotting import tables
from noble.plotting.figures_subsampling import fig_subsampling

T = np.arange(0, 515, 0.5)  # ms


def spiking(rate_hz: float = 40.0, rest: float = -70.0) -> np.ndarray:
    """A synthetic trace (mV) with narrow spikes to +20 mV during the 15-415 ms step."""
    v = np.full(T.shape, rest)
    if rate_hz > 0:
        for t0 in np.arange(20, 415, 1000.0 / rate_hz):
            v += 90.0 * np.exp(-(((T - t0) / 0.6) ** 2))
    return v


def hyperpolarised(depth: float = -15.0) -> np.ndarray:
    v = np.full(T.shape, -70.0)
    v[(T >= 15) & (T < 415)] += depth
    return v


@pytest.fixture
def swc() -> SwcTable:
    ids = np.arange(1, 6)
    xyz = np.array([[0, 0, 0], [0, 50, 0], [0, 100, 0], [40, 0, 0], [-80, -20, 0]], dtype=float)
    return SwcTable(Path("toy.swc"), ids, np.array([1, 3, 3, 3, 2]), xyz, np.array([5.0, 1, 1, 1, 0.5]),
                    np.array([-1, 1, 2, 1, 1]))


def labels_of(fig: Figure) -> list[str]:
    return [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]


def test_spike_waveforms_align_the_first_spike_on_its_peak():
    v = np.stack([spiking(40.0), hyperpolarised()])
    rel, wf = fh.spike_waveforms(T, v, window_ms=(-2.0, 3.0))
    assert wf.shape == (2, rel.size)
    zero = int(np.argmin(np.abs(rel)))
    assert np.nanargmax(wf[0]) == zero and wf[0, zero] == pytest.approx(20.0, abs=1.0)
    assert np.isnan(wf[1]).all()  # a silent trace has no waveform


def test_hof_models_figure_has_four_panels_with_units(swc):
    traces = {0.1: np.stack([spiking(40), spiking(30)]), -0.11: np.stack([hyperpolarised(), hyperpolarised(-12)])}
    amps = np.array([-0.1, 0.0, 0.1, 0.2])
    fig = fh.fig_hof_models(swc, T, traces, amps, np.array([[0, 0, 40, 80], [0, 0, 30, 70.0]]),
                            experimental_fi=(amps, np.maximum(0, 380.7 * (amps - 0.02))), title="toy")
    assert len(fig.axes) == 4
    labels = labels_of(fig)
    for unit in ("Time (ms)", "Membrane potential (mV)", "Current (nA)", "Firing rate (Hz)"):
        assert unit in labels
    assert [t.get_text() for t in fig.axes[3].get_legend().get_texts()] == ["PDE (HoF models)", "Experiment (fitted line)"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["soma", "axon", "dendrite"]


def test_hof_models_figure_rejects_mismatched_inputs(swc):
    with pytest.raises(ValueError, match="samples"):
        fh.fig_hof_models(swc, T, {0.1: np.zeros((1, 10))}, np.array([0.1]), np.array([[1.0]]))
    with pytest.raises(ValueError, match="amplitudes"):
        fh.fig_hof_models(swc, T, {0.1: spiking()[None]}, np.array([0.0, 0.1]), np.array([[1.0, 2.0, 3.0]]))


def test_amplitude_distribution_shows_the_histogram_and_the_law():
    rng = np.random.default_rng(0)
    amps = rng.uniform(-0.11, 0.28, 200)
    x = np.linspace(-0.11, 0.28, 50)
    fig = fh.fig_amplitude_distribution(amps, pdf=(x, np.full(x.shape, 1 / 0.39)))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Step amplitude (nA)" and "1/nA" in ax.get_ylabel()
    assert any("n = 200" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(ValueError, match="no amplitudes"):
        fh.fig_amplitude_distribution(np.array([]))


def test_convex_hull_polygon_drops_interior_points():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=float)
    hull = fh.convex_hull_polygon(pts)
    assert hull.shape == (4, 2) and not any(np.allclose(p, [0.5, 0.5]) for p in hull)
    with pytest.raises(ValueError, match="at least 3"):
        fh.convex_hull_polygon(pts[:2])


def test_latent_space_draws_train_test_hull_and_neighbourhood():
    rng = np.random.default_rng(1)
    train = rng.uniform(0.5, 3.5, (20, 2))
    test = rng.uniform(1.5, 2.5, (3, 2))
    fig = fh.fig_latent_space(train, test, hull_samples=rng.uniform(1.5, 2.5, (5, 2)),
                              neighbourhood=(test[0], 0.1, test[0] + 0.05 * rng.normal(size=(4, 2))),
                              annotate_test=[32, 2, 12])
    ax = fig.axes[0]
    assert "scaled" in ax.get_xlabel() and "scaled" in ax.get_ylabel()
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    assert len(circles) == 1 and circles[0].get_radius() == pytest.approx(0.1)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "20 train HoFs" in texts and "3 test HoFs" in texts and "5 samples in the hull" in texts
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        fh.fig_latent_space(train[:, :1], test)


def test_fi_and_traces_figure_layout_and_sweep_note():
    amps = np.array([-0.1, 0.0, 0.1, 0.2])
    rates = np.array([[0, 0, 40, 80], [0, 5, 45, 85.0]])
    pde = {0.1: spiking(40), -0.11: hyperpolarised()}
    nob = {0.1: spiking(38), -0.11: hyperpolarised(-14)}
    fig = fp.fig_fi_and_traces(amps, rates, rates + 1, (amps, amps * 100), T, pde, nob, "HoF 0")
    assert len(fig.axes) == 5
    assert fig.axes[0].get_xlabel() == "Current (nA)" and fig.axes[0].get_ylabel() == "Firing rate (Hz)"
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("recorded sweep: needs the Allen download") == 2
    with_exp = fp.fig_fi_and_traces(amps, rates, rates, None, T, pde, nob, "HoF 0",
                                    experimental_traces={0.1: (T, spiking(35))})
    assert sum("needs the Allen" in t.get_text() for ax in with_exp.axes for t in ax.texts) == 1
    with pytest.raises(ValueError, match="amplitudes"):
        fp.fig_fi_and_traces(amps[:3], rates, rates, None, T, pde, nob, "HoF 0")


def test_trace_distributions_grid_and_titles():
    cols = {"PDE": {0.1: np.stack([spiking(40)] * 3), -0.11: np.stack([hyperpolarised()] * 3)},
            "NOBLE": {0.1: np.stack([spiking(35)] * 3), -0.11: np.stack([hyperpolarised()] * 3)}}
    fig = fp.fig_trace_distributions(T, cols)
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title() == "PDE: 3 traces, +0.10 nA"  # depolarising row first
    assert fig.axes[0].get_ylabel() == "V (mV)" and fig.axes[-1].get_xlabel() == "Time (ms)"


def test_feature_error_boxes_tolerate_missing_values():
    errors = {"PDE": {"AP1_width": np.array([1.0, 2.0, np.nan]), "mean_frequency": np.array([5.0, 6.0])},
              "NOBLE": {"AP1_width": np.array([np.nan]), "mean_frequency": np.array([7.0])}}
    fig = fp.fig_feature_errors(errors, title="toy", paper={"AP1_width": 20.0})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["AP1 width", "mean frequency"]
    assert "(%)" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["PDE", "NOBLE"]


def test_neighbourhood_and_interpolation_figures():
    ens = {0.1: np.stack([spiking(r) for r in (35, 40, 45)]), -0.11: np.stack([hyperpolarised()] * 3)}
    truth = {0.1: spiking(40), -0.11: hyperpolarised()}
    fig = fp.fig_neighbourhood_ensemble(T, truth, ens, "HoF 32")
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "HoF 32, +0.10 nA"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["NOBLE ensemble (3)", "PDE (ground truth)"]
    amps = np.array([0.0, 0.1, 0.2])
    fig4 = fp.fig_interpolation(amps, np.array([[0, 40, 80.0]] * 3), np.array([[0, 42, 82.0]]), (amps, amps * 300),
                                {"interpolated": np.array([[0, 50, 90.0]])}, T, {"interpolated": spiking(50)[None]},
                                spiking(42), 0.1, ens[0.1], "HoF 32")
    assert len(fig4.axes) == 3
    assert all(ax.get_xlabel() in ("Current (nA)", "Time (ms)") for ax in fig4.axes)


def test_subsampling_figure_panels_and_checks():
    factors = [1, 2, 4]
    errs = {f: {"lpf_decimate": np.array([[0, 0], [1, 2], [3, np.nan]]), "decimate": np.array([[0, 0], [2, 3], [5, 6.0]])}
            for f in ("AP1_width", "Spikecount", "voltage_base")}
    fig = fig_subsampling(factors, errs, {"AP1_width": (4.0, 1.0)}, ncols=2,
                          labels={"lpf_decimate": "LPF + decimation", "decimate": "Decimation"})
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 3 and panels[0].get_title() == "AP1 width"
    assert panels[0].get_xlabel() == "Subsampling factor" and panels[0].get_ylabel() == "Relative error (%)"
    bad = {"AP1_width": {"lpf_decimate": np.zeros((2, 2))}}
    with pytest.raises(ValueError, match="3 factors"):
        fig_subsampling(factors, bad)


def test_table_frame_puts_the_paper_beside_ours(tmp_path):
    ours = {"None": tables.metrics_row({"voltage": 10.0, "steady_state_voltage": 1.5}),
            "s_thr, I_thr": tables.metrics_row({"voltage": 2.0, "steady_state_voltage": 1.0, "Spikecount": 3.0,
                                                "AP1_width": 30.0, "mean_AP_amplitude": 9.0})}
    df = tables.table_frame(ours, "Features embedded", tables.PAPER_TABLE1)
    assert list(df.columns[:2]) == ["Voltage", "Voltage (paper)"]
    assert df.loc["s_thr, I_thr", "Voltage (paper)"] == 1.92
    assert math.isnan(df.loc["None", "Spikecount (paper)"])  # "never fires" in the paper
    assert math.isnan(df.loc["None", "Spikecount"])
    md = tables.to_markdown(df)
    assert md.count("\n") == 4 and "| s_thr, I_thr | 2% | 1.92% |" in md
    paths = tables.write_table(df, "table1_toy", tmp_path, "Table 1")
    assert sorted(p.suffix for p in paths) == [".csv", ".md", ".pdf", ".png"]
    back = pd.read_csv(tmp_path / "table1_toy.csv", index_col=0)
    assert back.loc["s_thr, I_thr", "AP1 width"] == 30.0
    with pytest.raises(ValueError, match="no rows"):
        tables.table_frame({}, "x")


def test_format_helpers():
    assert tables.format_pct(1.234) == "1.23%" and tables.format_pct(3004.4) == "3004%"
    assert tables.format_pct(float("nan")) == "n/a" and tables.format_pct(None) == "n/a"
    assert tables.format_number(36200.0) == "36,200" and tables.format_number(8.594) == "8.594"
    assert tables.format_number("") == ""


def test_speed_frame_selects_columns():
    rows = [{"part": "pde", "method": "arbor", "device": "cpu", "workers": 1, "s_per_10k": 5000.0},
            {"part": "noble", "method": "fast", "device": "cpu", "batch_size": 64, "s_per_10k": 12.5,
             "paper_s_per_10k": ""}]
    df = tables.speed_frame(rows)
    assert list(df.index) == ["pde: arbor", "noble: fast"]
    assert "part" not in df.columns and df.loc["noble: fast", "s_per_10k"] == 12.5
    with pytest.raises(ValueError, match="no rows"):
        tables.speed_frame([])


def test_table2_rows_meet_the_paper_row_of_the_same_fraction():
    assert tables.paper_hof_count(4, 4) == 50 and tables.paper_hof_count(2, 4) == 20
    assert tables.paper_hof_count(40, 50) == 40
    with pytest.raises(ValueError, match="1..4"):
        tables.paper_hof_count(5, 4)


def test_apply_style_outside_a_kernel_keeps_the_backend_and_sets_the_style():
    import matplotlib

    from noble.plotting import style

    backend = matplotlib.get_backend()
    style.apply_style()
    assert not style._in_notebook_kernel()
    assert matplotlib.get_backend() == backend
    assert matplotlib.rcParams["pdf.fonttype"] == 42 and matplotlib.rcParams["font.size"] == style.RC["font.size"]


def test_save_figure_rasterizes_dense_traces_only(tmp_path):
    import matplotlib.pyplot as plt
    import numpy as np

    from noble.plotting import save_figure

    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 515.0, 8583)
    fig, ax = plt.subplots()
    traces = [ax.plot(t, -70 + np.cumsum(rng.normal(0.0, 0.3, t.size)), lw=0.5)[0] for _ in range(100)]
    short = ax.plot([0, 515], [-70, -70])[0]
    vector_pdf = tmp_path / "vector.pdf"
    fig.savefig(vector_pdf)
    (pdf,) = save_figure(fig, "dense", tmp_path, formats=("pdf",))
    plt.close(fig)
    assert all(line.get_rasterized() for line in traces) and not short.get_rasterized()
    assert pdf.stat().st_size < vector_pdf.stat().st_size / 4


def test_rendered_tables_wrap_long_headers_and_cells():
    import pandas as pd

    df = pd.DataFrame({"Missed firing (% of spiking PDE traces)": ["none: 40 of 40 spiking traces missed", 12.5]},
                      index=pd.Index(["Nearest neighbour (same traces)", "s_thr"], name="Features embedded"))
    fig = tables.render_table(df, "t", wrap=16)
    cells = fig.axes[0].tables[0].get_celld()
    assert all(len(line) <= 16 for line in cells[(0, 1)].get_text().get_text().split("\n"))
    assert cells[(1, 1)].get_text().get_text() == "none: 40 of 40\nspiking traces\nmissed"
    assert cells[(2, 1)].get_text().get_text() == "12.5%"
    assert cells[(1, 1)].get_height() > cells[(2, 1)].get_height()  # a row is as tall as its longest cell
