"""Cached analyses behind the figure and table notebooks (paper Figs 2-13, Tables 1-3, the speed table).

Each ``*_cached`` function stores its arrays as ``.npz`` (or JSON/CSV) in the run's ``results/`` folder with a
signature of its inputs (weights and data-card checksums, settings); a rerun with the same inputs loads the
file, anything else recomputes it. The pure helpers (experimental F-I line, parameter interpolation,
subsampling strategies, errors against the experiment) take arrays and are tested on synthetic data.

Units: current nA, voltage mV, time ms, firing rate Hz, errors in percent. Latent points are the embedded
features min-max scaled to [0.5, 3.5] (unitless).
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
from noble.progress import tqdm

from noble.errors import NobleError

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import Cell, HofModel
    from noble.data.params import ModelParameters
    from noble.pipeline.layout import RunLayout
    from noble.pipeline.profiles import Profile


class AnalysisError(NobleError):
    """An analysis that cannot run on the given inputs (amplitude not simulated, no spiking trace...)."""


#: Amplitudes (nA) of the paper's trace panels.
TRACE_AMPLITUDES: tuple[float, float] = (0.1, -0.11)
#: The depolarising amplitude (nA) at which the paper's notebook compares ensembles with the experiment.
EXPERIMENT_DEPOL_NA = 0.18
#: Duration (ms) of the experimental Long Square step (the simulated step lasts 400 ms).
EXPERIMENT_STEP_MS = 1000.0
#: Duration (ms) of the simulated step.
SIMULATED_STEP_MS = 400.0
#: Fig 5B features: the paper's key features with mean_frequency in place of Spikecount.
FIG5_FEATURES: tuple[str, ...] = ("mean_frequency", "AP1_width", "mean_AP_amplitude", "steady_state_voltage")
#: The embedded feature sets of Table 1 (noble feature names, in the recorded order).
TABLE1_FEATURE_SETS: tuple[tuple[str, ...], ...] = (
    (), ("slope",), ("intercept",), ("slope", "intercept"), ("slope", "intercept", "depol.AHP_depth"),
)
#: Subsampling strategies of the paper's App. C.1 (Figs 6-7).
SUBSAMPLING_STRATEGIES: dict[str, str] = {
    "lpf_decimate": "LPF + decimation",
    "lpf_truncate": "LPF + frequency truncation",
    "truncate": "Frequency truncation",
    "decimate": "Decimation, no filter",
}


@dataclass(frozen=True)
class AnalysisSettings:
    """Sizes of the figure analyses for one pipeline profile."""

    n_fi_models: int | None  # train HoF models in the NOBLE/PDE F-I comparison (None: all)
    n_interpolated: int  # PDE models with parameters interpolated between two train HoFs (Fig 4)
    n_perturbed: int  # PDE models with perturbed parameters of the test HoF (Fig 4)
    perturbation: float  # log-normal sd of the conductance perturbation
    subsampling_hofs: int  # HoF models simulated at the solver resolution (Figs 6-7)
    subsampling_amplitudes: tuple[float, ...]  # nA
    subsampling_factors: tuple[int, ...]
    table2_fractions: tuple[float, ...]  # fractions of the train pool (paper: 50, 40, 30, 20 of 50)
    ablation_epochs: int | None  # epochs of every Table 1-2 model (None: the profile's)
    speed: Mapping[str, Any]  # noble.bench.speed_table.BenchSettings fields; batches: cpu_batches / gpu_batches
    ablation_max_minutes: float | None = None  # wall-clock cap of each Table 1-2 model (None: the profile's)
    table2_samples: int | None = None  # training traces of every Table 2 model (None: the profile's)
    finetune_max_minutes: float | None = None  # wall-clock cap of each Table 3 fine-tuning (None: the profile's)


ANALYSIS_SETTINGS: dict[str, AnalysisSettings] = {
    "quick": AnalysisSettings(
        n_fi_models=4, n_interpolated=1, n_perturbed=1, perturbation=0.1, subsampling_hofs=1,
        subsampling_amplitudes=(-0.11, 0.1), subsampling_factors=(1, 3, 8), table2_fractions=(1.0, 0.5), table2_samples=8,
        ablation_epochs=1,
        speed={"profile": "quick", "devices": ("cpu", "cuda"), "cpu_batches": (1, 4), "gpu_batches": (1, 4),
               "n_traces": 4, "gpu_n_traces": 16, "engines": ("arbor",), "pde_traces": 1, "accuracy_traces": 2,
               "workers": 1},
    ),
    "laptop": AnalysisSettings(
        n_fi_models=None, n_interpolated=3, n_perturbed=5, perturbation=0.1, subsampling_hofs=6,
        subsampling_amplitudes=(-0.11, -0.05, 0.1, 0.18, 0.26), subsampling_factors=(1, 2, 3, 4, 5, 6, 8, 10),
        table2_fractions=(1.0, 0.4), ablation_epochs=None, ablation_max_minutes=1.5, table2_samples=200,
        finetune_max_minutes=3.0,
        speed={"devices": ("cpu", "cuda"), "cpu_batches": (1, 64), "gpu_batches": (1, 64, 1000), "n_traces": 64,
               "gpu_n_traces": 2000, "engines": ("neuron", "arbor"), "pde_traces": 1, "accuracy_traces": 4},
    ),
    "paper": AnalysisSettings(
        n_fi_models=None, n_interpolated=5, n_perturbed=10, perturbation=0.1, subsampling_hofs=20,
        subsampling_amplitudes=(-0.11, -0.07, -0.03, 0.06, 0.1, 0.18, 0.26), subsampling_factors=tuple(range(1, 11)),
        table2_fractions=(1.0, 0.8, 0.6, 0.4), ablation_epochs=None,
        speed={"devices": ("cpu", "cuda"), "cpu_batches": (1, 64), "gpu_batches": (1, 64, 1000), "n_traces": 256,
               "gpu_n_traces": 10_000, "engines": ("neuron", "arbor"), "pde_traces": 4, "accuracy_traces": 8},
    ),
}


def analysis_settings(profile: "Profile | str") -> AnalysisSettings:
    """The analysis sizes of a pipeline profile (by its name)."""
    name = profile if isinstance(profile, str) else profile.name
    if name not in ANALYSIS_SETTINGS:
        raise AnalysisError(f"no analysis settings for profile {name!r}; known: {sorted(ANALYSIS_SETTINGS)}")
    return ANALYSIS_SETTINGS[name]


# ------------------------------------------------------------------------------------------------ caching


def signature_of(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value`` (the key of a cached result)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def cached_arrays(path: Path, signature: Mapping[str, Any], compute: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays from ``path`` (``.npz``) when it was written with the same ``signature``, else ``compute()`` saved there."""
    key = signature_of(signature)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["__signature__"]) == key:
                    return {k: data[k] for k in data.files if k != "__signature__"}
        except (OSError, KeyError, ValueError):
            pass
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    if any(a.dtype == object for a in arrays.values()):
        raise AnalysisError(f"{path}: only numeric and string arrays can be cached")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, __signature__=np.asarray(key), **arrays)
    tmp.replace(path)
    return arrays


def cached_json(path: Path, signature: Mapping[str, Any], compute: Callable[[], Any]) -> Any:
    """A JSON result from ``path`` when written with the same ``signature``, else ``compute()`` saved there."""
    key = signature_of(signature)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if data.get("signature") == key:
                return data["result"]
        except (OSError, json.JSONDecodeError, AttributeError):
            pass
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"signature": key, "result": result}, indent=1, default=float, allow_nan=True))
    tmp.replace(path)
    return json.loads(path.read_text())["result"]


def _weights_sha(model_dir: Path) -> str:
    card = json.loads((Path(model_dir) / "model_card.json").read_text())
    return str(card["weights"]["sha256"])


def _prediction_signature(model_dir: Path, amps: list[float], hofs: Sequence[int] | None,
                          features: np.ndarray | None) -> dict:
    """What a cached NOBLE prediction depends on: the weights, the amplitudes (nA) and the models asked for."""
    return {"weights": _weights_sha(model_dir), "amps": amps, "hofs": None if hofs is None else [int(h) for h in hofs],
            "features": None if features is None else np.asarray(features, dtype=float).round(12).tolist()}


# ------------------------------------------------------------------------------------------------ F-I curves


def experimental_fi(slope_hz_per_nA: float, intercept_nA: float, amplitudes_nA: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The experimental F-I curve as the fitted line: rate = slope * (I - I_thr) above I_thr, 0 below (Hz).

    The recorded sweeps need the Allen download; the cell package gives the fitted slope and intercept.
    """
    if not (math.isfinite(slope_hz_per_nA) and math.isfinite(intercept_nA)):
        raise AnalysisError(f"experimental slope {slope_hz_per_nA} and intercept {intercept_nA} must be finite")
    amps = np.linspace(-0.11, 0.28, 400) if amplitudes_nA is None else np.asarray(amplitudes_nA, dtype=float)
    amps = np.union1d(amps, [intercept_nA]) if amps.min() < intercept_nA < amps.max() else amps
    return amps, np.maximum(0.0, slope_hz_per_nA * (amps - intercept_nA))


def cell_experimental_fi(cell: "Cell") -> tuple[np.ndarray, np.ndarray]:
    """:func:`experimental_fi` from ``cell.experimental_features`` (keys ``slope`` Hz/nA, ``intercept`` nA)."""
    feats = cell.experimental_features
    missing = [k for k in ("slope", "intercept") if k not in feats]
    if missing:
        raise AnalysisError(f"{cell.name}: experimental features lack {missing}")
    return experimental_fi(float(feats["slope"]), float(feats["intercept"]))


def rates_from_traces(voltage_mV: np.ndarray, time_ms: np.ndarray, delay_ms: float, duration_ms: float) -> np.ndarray:
    """Firing rate (Hz) of each trace ``[N, T]``: eFEL spikes inside the step divided by its duration."""
    from noble.features.fi import firing_rates

    return firing_rates(np.asarray(voltage_mV), np.asarray(time_ms), delay_ms, delay_ms + duration_ms)


def grid_table(amplitude: np.ndarray, hof: np.ndarray, values: np.ndarray, tol: float = 1e-6
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrange per-trace ``values`` of a (HoF x amplitude) grid dataset as ``[M, A]``: (hofs, amplitudes, table).

    Missing grid points are NaN.
    """
    amps = np.unique(np.round(np.asarray(amplitude, dtype=float), 9))
    hofs = np.unique(np.asarray(hof, dtype=np.int64))
    table = np.full((hofs.size, amps.size) + np.shape(values)[1:], np.nan)
    for k, (a, h) in enumerate(zip(amplitude, hof)):
        i = int(np.searchsorted(hofs, h))
        j = int(np.argmin(np.abs(amps - a)))
        if abs(amps[j] - a) <= tol:
            table[i, j] = values[k]
    return hofs, amps, table


def pde_fi_cached(fi_path: Path, results_dir: Path) -> dict[str, np.ndarray]:
    """PDE F-I curves of the F-I grid dataset: ``hofs`` [M], ``amplitudes`` [A] nA, ``rates`` [M, A] Hz."""
    from noble.training.data import read_dataset

    ds = read_dataset(fi_path)

    def compute() -> dict[str, np.ndarray]:
        rates = rates_from_traces(ds.voltage, ds.time, float(ds.protocol["delay_ms"]), float(ds.protocol["duration_ms"]))
        hofs, amps, table = grid_table(ds.amplitude, ds.hof, rates)
        return {"hofs": hofs, "amplitudes": amps, "rates": table}

    return cached_arrays(results_dir / "pde_fi.npz", {"data": ds.data_card_sha256}, compute)


def pde_traces(fi_path: Path, hofs: Sequence[int], amplitude_nA: float, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """PDE traces ``[M, T]`` (mV) of ``hofs`` at one grid amplitude, and the time axis (ms)."""
    from noble.training.data import read_dataset

    ds = read_dataset(fi_path)
    out = []
    for h in hofs:
        rows = np.flatnonzero((ds.hof == int(h)) & (np.abs(ds.amplitude - amplitude_nA) <= tol))
        if rows.size == 0:
            raise AnalysisError(f"{fi_path}: no trace of HoF {h} at {amplitude_nA} nA (grid: "
                                f"{sorted(set(np.round(ds.amplitude, 4).tolist()))} nA)")
        out.append(ds.voltage[rows[0]])
    return np.stack(out), ds.time


def noble_fi_cached(model_dir: Path, amplitudes_nA: Sequence[float], results_dir: Path, name: str,
                    hofs: Sequence[int] | None = None, features: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """NOBLE F-I curves of models given as HoF indices or raw features ``[M, F]``: ``rates`` [M, A] Hz."""
    from noble.checkpoint import load_model
    from noble.evaluation import fi_curves

    amps = [float(a) for a in amplitudes_nA]
    sig = _prediction_signature(model_dir, amps, hofs, features)

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        curves = fi_curves(model, amps, features=features, hofs=hofs)
        return {"amplitudes": curves.amplitudes_nA, "rates": curves.rates_hz, "counts": curves.spike_counts}

    return cached_arrays(results_dir / f"noble_fi_{name}.npz", sig, compute)


def noble_traces_cached(model_dir: Path, amplitudes_nA: Sequence[float], results_dir: Path, name: str,
                        hofs: Sequence[int] | None = None, features: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """NOBLE traces (mV) of M models at each amplitude: ``traces`` [A, M, T], ``amplitudes`` [A], ``time`` [T]."""
    from noble.checkpoint import load_model

    amps = [float(a) for a in amplitudes_nA]
    sig = _prediction_signature(model_dir, amps, hofs, features)

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        if hofs is not None:
            feats = model.features_for_hofs([int(h) for h in hofs])
        elif features is not None:
            feats = np.asarray(features, dtype=float)
        else:
            raise AnalysisError("give the models as hofs or features")
        traces = np.stack([model.predict(np.full(len(feats), a), features=feats) for a in amps])
        return {"traces": traces.astype(np.float32), "amplitudes": np.asarray(amps), "time": model.template.time()}

    return cached_arrays(results_dir / f"noble_traces_{name}.npz", sig, compute)


# ------------------------------------------------------------------------------------------------ latent space


def latent_points(cell: "Cell", names: Sequence[str] = ("slope", "intercept"),
                  feature_range: tuple[float, float] = (0.5, 3.5)) -> dict[str, np.ndarray]:
    """The cell's HoF models in the scaled feature space (min-max over its train split, as the paper):
    ``train`` [N, F], ``test`` [M, F] and their global HoF indices ``train_hofs``, ``test_hofs``."""
    from noble.embedding import FeatureScaler, cell_feature_table, feature_rows

    table = cell_feature_table(cell, names)
    train, test = list(cell.split.train), list(cell.split.test)
    scaler = FeatureScaler.fit(table, train, tuple(names), feature_range)
    return {"train": np.asarray(scaler.transform(feature_rows(table, train, names))),
            "test": np.asarray(scaler.transform(feature_rows(table, test, names))) if test else np.zeros((0, len(names))),
            "train_hofs": np.asarray(train), "test_hofs": np.asarray(test)}


def hull_ensemble_cached(model_dir: Path, n: int, amplitudes_nA: Sequence[float], results_dir: Path,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` synthetic models sampled uniformly in the convex hull of the model's train HoFs (scaled space) and
    their NOBLE traces: ``scaled`` [n, F], ``raw`` [n, F], ``traces`` [A, n, T] mV."""
    from noble.checkpoint import load_model
    from noble.evaluation import ensemble_predict, hull_samples, to_raw, train_embeddings

    amps = [float(a) for a in amplitudes_nA]

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        scaled = hull_samples(train_embeddings(model), n, seed=seed)
        raw = to_raw(model, scaled)
        traces = np.stack([ensemble_predict(model, a, raw) for a in amps]).astype(np.float32)
        return {"scaled": scaled, "raw": raw, "traces": traces, "amplitudes": np.asarray(amps)}

    return cached_arrays(results_dir / "hull_ensemble.npz",
                         {"weights": _weights_sha(model_dir), "n": n, "amps": amps, "seed": seed}, compute)


def neighbourhood_cached(model_dir: Path, hof: int, n: int, amplitudes_nA: Sequence[float],
                         fi_amplitudes_nA: Sequence[float], results_dir: Path, radius: float | None = None,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` synthetic models sampled in a disc around HoF ``hof`` (scaled space), their NOBLE traces
    ``traces`` [A, n, T] mV at ``amplitudes_nA`` and F-I curves ``rates`` [n, A'] Hz at ``fi_amplitudes_nA``."""
    from noble.checkpoint import load_model
    from noble.evaluation import NEIGHBOURHOOD_RADIUS, ensemble_predict, fi_curves, neighbourhood_samples, to_raw

    r = float(NEIGHBOURHOOD_RADIUS if radius is None else radius)
    amps = [float(a) for a in amplitudes_nA]
    fi_amps = [float(a) for a in fi_amplitudes_nA]

    def compute() -> dict[str, np.ndarray]:
        model = load_model(model_dir)
        centre = np.asarray(model.scaler.transform(model.features_for_hofs([int(hof)])))[0]
        scaled = neighbourhood_samples(centre, n, radius=r, seed=seed)
        raw = to_raw(model, scaled)
        traces = np.stack([ensemble_predict(model, a, raw) for a in amps]).astype(np.float32)
        curves = fi_curves(model, fi_amps, features=raw)
        return {"centre": centre, "scaled": scaled, "raw": raw, "traces": traces, "amplitudes": np.asarray(amps),
                "fi_amplitudes": np.asarray(fi_amps), "rates": curves.rates_hz, "radius": np.asarray(r)}

    sig = {"weights": _weights_sha(model_dir), "hof": int(hof), "n": n, "amps": amps, "fi": fi_amps, "r": r, "seed": seed}
    return cached_arrays(results_dir / f"neighbourhood_hof{int(hof)}.npz", sig, compute)


def nearest_hofs(points: np.ndarray, hofs: Sequence[int], centre: np.ndarray, k: int = 2) -> list[int]:
    """The ``k`` HoF indices whose points ``[N, F]`` are nearest to ``centre`` [F] (Euclidean, scaled space)."""
    d = np.linalg.norm(np.asarray(points, dtype=float) - np.asarray(centre, dtype=float)[None, :], axis=1)
    return [int(hofs[i]) for i in np.argsort(d, kind="stable")[:k]]


# ------------------------------------------------------------------------------------------------ features vs experiment


def experimental_value(cell_features: Mapping[str, float], feature: str, depolarising: bool = True) -> float:
    """The experiment's value of an eFEL feature (``depol.``/``hyperpol.`` sweep).

    ``mean_frequency`` is not in the table: it is the depolarising sweep's spike count over its 1 s step (Hz).
    """
    prefix = "depol." if depolarising else "hyperpol."
    if feature == "mean_frequency" and depolarising:
        count = cell_features.get("depol.Spikecount")
        return math.nan if count is None else float(count) / (EXPERIMENT_STEP_MS / 1000.0)
    return float(cell_features.get(prefix + feature, math.nan))


def errors_vs_experiment(rows: Sequence[Mapping[str, float]], cell_features: Mapping[str, float],
                         features: Sequence[str] = FIG5_FEATURES, depolarising: bool = True) -> dict[str, np.ndarray]:
    """Relative errors (%) ``|F_model - F_exp| / |F_exp|`` per model for each feature (NaN where undefined)."""
    out = {}
    for feat in features:
        ref = experimental_value(cell_features, feat, depolarising)
        vals = np.asarray([float(r.get(feat, math.nan)) for r in rows], dtype=float)
        out[feat] = 100.0 * np.abs(vals - ref) / abs(ref) if math.isfinite(ref) and ref != 0 else np.full(vals.size, np.nan)
    return out


def trace_features(voltage_mV: np.ndarray, time_ms: np.ndarray, delay_ms: float = 15.0, end_ms: float = 415.0,
                   features: Sequence[str] = FIG5_FEATURES) -> list[dict[str, float]]:
    """eFEL features (see :func:`noble.features.extract_features`) of traces ``[N, T]``."""
    from noble.features import extract_features

    return extract_features(np.asarray(voltage_mV, dtype=float), np.asarray(time_ms, dtype=float), delay_ms, end_ms,
                            features=tuple(features))


# ------------------------------------------------------------------------------------------------ PDE parameter baselines


def interpolate_parameters(a: "ModelParameters", b: "ModelParameters", alpha: float) -> "ModelParameters":
    """Parameters ``(1 - alpha) * a + alpha * b``, value by value (both models must set the same parameters)."""
    from noble.data.params import SectionParameters

    if not 0.0 <= alpha <= 1.0:
        raise AnalysisError(f"interpolation weight alpha must lie in [0, 1], not {alpha}")

    def mix(x, y, what: str):
        if x is None and y is None:
            return None
        if x is None or y is None:
            raise AnalysisError(f"{what} is set in only one of {a.source.name} and {b.source.name}")
        return (1.0 - alpha) * float(x) + alpha * float(y)

    if set(a.sections) != set(b.sections):
        raise AnalysisError(f"{a.source.name} and {b.source.name} have different sections")
    sections = {}
    for name, sa in a.sections.items():
        sb = b.sections[name]
        if set(sa.mechanisms) != set(sb.mechanisms):
            raise AnalysisError(f"{name}: {a.source.name} and {b.source.name} insert different mechanisms")
        mechs = {}
        for mech, pa in sa.mechanisms.items():
            pb = sb.mechanisms[mech]
            if set(pa) != set(pb):
                raise AnalysisError(f"{name}/{mech}: the two models set different parameters")
            mechs[mech] = {p: mix(pa[p], pb[p], f"{name}/{mech}/{p}") for p in pa}
        kw = {f.name: mix(getattr(sa, f.name), getattr(sb, f.name), f"{name}/{f.name}")
              for f in fields(SectionParameters) if f.name != "mechanisms"}
        sections[name] = SectionParameters(mechanisms=mechs, **kw)
    return replace(a, ra=mix(a.ra, b.ra, "Ra"), celsius=mix(a.celsius, b.celsius, "celsius"),
                   v_init=mix(a.v_init, b.v_init, "v_init"), sections=sections)


def is_conductance(name: str) -> bool:
    """Whether a mechanism parameter is a maximal conductance (``gbar``, ``gSKv3_1bar``, ``gK_Pstbar``...)."""
    return name.startswith("g") and (name.endswith("bar") or name == "gbar")


def perturb_parameters(p: "ModelParameters", sd: float, rng: np.random.Generator) -> "ModelParameters":
    """Every maximal conductance (and ``g_pas``) multiplied by an independent log-normal factor ``exp(N(0, sd))``."""
    sections = {}
    for name, sec in p.sections.items():
        mechs = {m: {k: (float(v) * float(np.exp(rng.normal(0.0, sd))) if is_conductance(k) else v)
                     for k, v in params.items()} for m, params in sec.mechanisms.items()}
        g_pas = None if sec.g_pas is None else float(sec.g_pas) * float(np.exp(rng.normal(0.0, sd)))
        sections[name] = replace(sec, mechanisms=mechs, g_pas=g_pas)
    return replace(p, sections=sections)


def _simulate_raw(task: tuple[str, "HofModel", Path, list[float]]) -> np.ndarray:
    """Raw somatic voltage ``[A, n_raw]`` (mV, 0.02 ms grid) of one model with Arbor (runs in worker processes)."""
    from noble.sim import PAPER_PROTOCOL, get_engine

    discretization, model, morphology, amps = task
    raw = np.asarray(get_engine("arbor", discretization=discretization).simulate(model, morphology, amps, PAPER_PROTOCOL))
    if not np.all(np.isfinite(raw)):
        raise AnalysisError(f"non-finite voltage simulating {model.path.name} at {amps} nA")
    return raw


def simulate_models(models: Sequence["HofModel"], morphology: Path, amplitudes_nA: Sequence[float],
                    discretization: str, workers: int = 1, desc: str = "PDE") -> list[np.ndarray]:
    """Raw PDE traces ``[A, n_raw]`` (mV) of each model at every amplitude (nA), in ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    tasks = [(discretization, m, Path(morphology), [float(a) for a in amplitudes_nA]) for m in models]
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            return list(tqdm(pool.map(_simulate_raw, tasks), total=len(tasks), desc=desc))
    return [_simulate_raw(t) for t in tqdm(tasks, desc=desc)]


def pde_baselines_cached(cell: "Cell", test_hof: int, partners: Sequence[int], alphas: Sequence[float],
                         n_perturbed: int, perturbation: float, amplitudes_nA: Sequence[float],
                         discretization: str, results_dir: Path, seed: int = 0, workers: int = 1) -> dict[str, np.ndarray]:
    """PDE simulations of the Fig 4 baselines at ``amplitudes_nA``: models with parameters interpolated
    between the two ``partners`` (weights ``alphas``) and models with perturbed conductances of ``test_hof``.

    Returns ``kind`` [K] ("interpolated"/"perturbed"), ``alpha`` [K], ``amplitudes`` [A], ``voltage`` [K, A, T]
    (mV, decimated to the dataset grid), ``rates`` [K, A] (Hz) and ``time`` [T] (ms).
    """
    from noble.sim import PAPER_PROTOCOL, decimate_traces

    if len(partners) != 2:
        raise AnalysisError(f"interpolation needs two partner HoF models, got {list(partners)}")
    amps = [float(a) for a in amplitudes_nA]
    sig = {"cell": cell.name, "test": int(test_hof), "partners": [int(h) for h in partners], "alphas": list(alphas),
           "n_perturbed": n_perturbed, "sd": perturbation, "amps": amps, "disc": discretization, "seed": seed,
           "files": [str(cell.hof(int(h)).path.name) for h in (test_hof, *partners)]}

    def compute() -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        a, b = cell.hof(int(partners[0])), cell.hof(int(partners[1]))
        models: list[tuple[str, float, "HofModel"]] = [
            ("interpolated", float(al), replace(a, params=interpolate_parameters(a.params, b.params, float(al))))
            for al in alphas]
        base = cell.hof(int(test_hof))
        models += [("perturbed", math.nan, replace(base, params=perturb_parameters(base.params, perturbation, rng)))
                   for _ in range(n_perturbed)]
        raws = simulate_models([m for _, _, m in models], cell.morphology, amps, discretization, workers, "PDE baselines")
        volts = [decimate_traces(raw, PAPER_PROTOCOL).astype(np.float32) for raw in raws]
        voltage = np.stack(volts) if volts else np.zeros((0, len(amps), PAPER_PROTOCOL.n_samples), np.float32)
        time = PAPER_PROTOCOL.time()
        rates = rates_from_traces(voltage.reshape(-1, voltage.shape[-1]), time, PAPER_PROTOCOL.stim_start,
                                  PAPER_PROTOCOL.stim_duration).reshape(voltage.shape[:2])
        return {"kind": np.asarray([k for k, _, _ in models], dtype=str), "alpha": np.asarray([al for _, al, _ in models]),
                "amplitudes": np.asarray(amps), "voltage": voltage, "rates": rates, "time": time}

    return cached_arrays(results_dir / f"pde_baselines_hof{int(test_hof)}.npz", sig, compute)


# ------------------------------------------------------------------------------------------------ subsampling (Figs 6-7)


def fft_truncate(trace: np.ndarray, n_out: int) -> np.ndarray:
    """Resample ``trace`` [..., n] to ``n_out`` samples by keeping its lowest Fourier modes (same duration)."""
    x = np.asarray(trace, dtype=float)
    n = x.shape[-1]
    spec = np.fft.rfft(x, axis=-1)[..., : n_out // 2 + 1]
    return np.fft.irfft(spec, n=n_out, axis=-1) * (n_out / n)


def lowpass(trace: np.ndarray, factor: int) -> np.ndarray:
    """The zero-phase FIR low-pass of the dataset pipeline (cutoff at the Nyquist of ``factor``-fold decimation)."""
    from scipy.ndimage import convolve1d

    from noble.sim.protocol import lowpass_kernel

    return convolve1d(np.asarray(trace, dtype=float), lowpass_kernel(factor), axis=-1, mode="nearest")


def subsample(trace: np.ndarray, factor: int, strategy: str, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Subsample raw traces ``[..., n]`` (time step ``dt_ms``) by ``factor`` with one of
    :data:`SUBSAMPLING_STRATEGIES`; returns (time ms [n'], voltage [..., n'])."""
    x = np.asarray(trace, dtype=float)
    n = x.shape[-1]
    if factor < 1:
        raise AnalysisError(f"subsampling factor must be >= 1, not {factor}")
    if strategy not in SUBSAMPLING_STRATEGIES:
        raise AnalysisError(f"unknown subsampling strategy {strategy!r}; choose one of {list(SUBSAMPLING_STRATEGIES)}")
    if factor == 1:
        return np.arange(n) * dt_ms, x
    if strategy in ("decimate", "lpf_decimate"):
        out = (x if strategy == "decimate" else lowpass(x, factor))[..., ::factor]
        return np.arange(out.shape[-1]) * dt_ms * factor, out
    n_out = -(-n // factor)  # same duration, n_out samples
    out = fft_truncate(lowpass(x, factor) if strategy == "lpf_truncate" else x, n_out)
    return np.arange(n_out) * (dt_ms * n / n_out), out


def relative_errors(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``100 |values - reference| / |reference + 1e-6|`` (%), NaN where either is NaN."""
    v, r = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * np.abs(v - r) / np.abs(r + 1e-6)


def subsampling_errors(raw: np.ndarray, amplitudes_nA: np.ndarray, dt_ms: float, factors: Sequence[int],
                       features: Sequence[str], delay_ms: float = 15.0, end_ms: float = 415.0,
                       strategies: Sequence[str] = tuple(SUBSAMPLING_STRATEGIES), progress: bool = False
                       ) -> tuple[dict[str, dict[str, np.ndarray]], list[dict[str, float]]]:
    """eFEL feature errors (%) of subsampled raw traces ``[N, n]`` against the original traces.

    Returns (``errors[feature][strategy]`` ``[len(factors), N]``, the original traces' feature rows).
    """
    from noble.features import extract_features

    raw = np.atleast_2d(np.asarray(raw, dtype=float))
    t0 = np.arange(raw.shape[-1]) * dt_ms
    original = extract_features(raw, t0, delay_ms, end_ms, features=tuple(features))
    ref = {f: np.asarray([r[f] for r in original], dtype=float) for f in features}
    errors = {f: {s: np.full((len(factors), raw.shape[0]), np.nan) for s in strategies} for f in features}
    jobs = [(i, k, s) for i, k in enumerate(factors) for s in strategies]
    for i, k, s in tqdm(jobs, desc="subsampling", disable=not progress):
        t, sub = subsample(raw, int(k), s, dt_ms)
        rows = original if k == 1 else extract_features(sub, t, delay_ms, end_ms, features=tuple(features))
        for f in features:
            errors[f][s][i] = relative_errors([r[f] for r in rows], ref[f])
    return errors, original


def experiment_gap(original: Sequence[Mapping[str, float]], amplitudes_nA: np.ndarray, hofs: np.ndarray,
                   cell_features: Mapping[str, float], features: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Per feature, mean and sd over HoF models of the smallest relative error (%) between a HoF model's
    original trace and the experiment, over its amplitudes of the experiment's sweep sign."""
    amps = np.asarray(amplitudes_nA, dtype=float)
    hofs = np.asarray(hofs)
    out: dict[str, tuple[float, float]] = {}
    for f in features:
        best = []
        for h in np.unique(hofs):
            errs = []
            for depol in (True, False):
                ref = experimental_value(cell_features, f, depol)
                if not math.isfinite(ref):
                    continue
                rows = np.flatnonzero((hofs == h) & ((amps > 0) if depol else (amps < 0)))
                vals = np.asarray([original[i].get(f, math.nan) for i in rows], dtype=float)
                if f == "Spikecount" and depol:  # the experimental step lasts 1 s, the simulated one 400 ms
                    vals = vals * (EXPERIMENT_STEP_MS / SIMULATED_STEP_MS)
                errs += relative_errors(vals, np.full(vals.shape, ref)).tolist()
            errs = [e for e in errs if math.isfinite(e)]
            if errs:
                best.append(min(errs))
        out[f] = (float(np.mean(best)), float(np.std(best))) if best else (math.nan, math.nan)
    return out


def subsampling_cached(cell: "Cell", hofs: Sequence[int], amplitudes_nA: Sequence[float], factors: Sequence[int],
                       discretization: str, results_dir: Path, features: Sequence[str] | None = None,
                       workers: int = 1) -> dict[str, Any]:
    """Figs 6-7: simulate ``hofs`` x ``amplitudes_nA`` at the solver's 0.02 ms step, subsample them with every
    strategy and factor, and return JSON-ready ``{"factors", "features", "errors", "gap", "n_traces"}``."""
    from noble.features import PAPER_FEATURES
    from noble.sim import PAPER_PROTOCOL

    feats = list(features or PAPER_FEATURES)
    amps = [float(a) for a in amplitudes_nA]
    sig = {"cell": cell.name, "hofs": [int(h) for h in hofs], "amps": amps, "factors": [int(k) for k in factors],
           "disc": discretization, "features": feats}

    def simulate() -> dict[str, np.ndarray]:
        raw = simulate_models([cell.hof(int(h)) for h in hofs], cell.morphology, amps, discretization, workers,
                              "solver-resolution traces")
        return {"raw": np.concatenate(raw).astype(np.float32), "hof": np.repeat(np.asarray(hofs, dtype=np.int64), len(amps)),
                "amplitude": np.tile(np.asarray(amps), len(hofs))}

    def compute() -> dict[str, Any]:
        sim = cached_arrays(results_dir / "subsampling_raw.npz", {k: sig[k] for k in ("cell", "hofs", "amps", "disc")},
                            simulate)
        errors, original = subsampling_errors(sim["raw"], sim["amplitude"], PAPER_PROTOCOL.dt, factors, feats,
                                              PAPER_PROTOCOL.stim_start, PAPER_PROTOCOL.stim_end, progress=True)
        gap = experiment_gap(original, sim["amplitude"], sim["hof"], cell.experimental_features, feats)
        return {"factors": [int(k) for k in factors], "features": feats, "n_traces": int(sim["raw"].shape[0]),
                "errors": {f: {s: np.where(np.isfinite(e), e, np.nan).tolist() for s, e in per.items()}
                           for f, per in errors.items()},
                "gap": {f: list(v) for f, v in gap.items()}}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return cached_json(results_dir / "subsampling.json", sig, compute)


# ------------------------------------------------------------------------------------------------ tables


def ablation_profile(profile: "Profile") -> "Profile":
    """The profile the Table 1-2 models are trained with: epochs and time cap from the analysis settings."""
    s = analysis_settings(profile)
    changes = {}
    if s.ablation_epochs is not None and s.ablation_epochs != profile.epochs:
        changes["epochs"] = s.ablation_epochs
    if s.ablation_max_minutes is not None and s.ablation_max_minutes != profile.max_minutes:
        changes["max_minutes"] = s.ablation_max_minutes
    return replace(profile, **changes) if changes else profile


def feature_set_tag(features: Sequence[str], main: bool = True) -> str:
    """The model tag of a Table 1 feature set (``main`` for the paper's s_thr, I_thr when ``main``)."""
    if main and tuple(features) == ("slope", "intercept"):
        return "main"
    return "feat-" + ("-".join(f.replace("depol.", "") for f in features) if features else "none")


def table1_results(profile: "Profile", cell: str, layout: "RunLayout",
                   feature_sets: Sequence[Sequence[str]] = TABLE1_FEATURE_SETS) -> dict[tuple[str, ...], dict[str, float]]:
    """Table 1: ``table1_pct`` of a model per embedded feature set, on the unseen currents of the train HoFs."""
    from noble.pipeline.steps import ensure_metrics, ensure_model

    prof = ablation_profile(profile)
    out = {}
    for feats in feature_sets:
        tag = feature_set_tag(feats, main=prof is profile)
        ensure_model(prof, cell, layout, tag=tag, features=None if tag == "main" else list(feats))
        metrics = ensure_metrics(prof, cell, layout, tag=tag)
        out[tuple(feats)] = metrics["sets"]["train_hofs_unseen_currents"].get("table1_pct", {})
    return out


def hof_counts(n_pool: int, fractions: Sequence[float]) -> list[int]:
    """Distinct numbers of train HoF models (at least 2), largest first, for the given fractions of the pool."""
    if n_pool < 2:
        raise AnalysisError(f"Table 2 needs at least 2 train HoF models, the profile has {n_pool}")
    return sorted({max(2, min(n_pool, int(round(f * n_pool)))) for f in fractions}, reverse=True)


def table2_results(profile: "Profile", cell: str, layout: "RunLayout", fractions: Sequence[float],
                   n_samples: int | None = None) -> dict[int, dict[str, float]]:
    """Table 2: ``table1_pct`` on the test HoF models of models trained on fewer train HoFs with the same number
    of training traces (``n_samples``, default the profile's; the full pool uses the first rows of the training
    set, each subset a dataset simulated on it)."""
    from noble.pipeline.steps import ensure_metrics, ensure_model, hof_pools

    prof = ablation_profile(profile)
    pool, _ = hof_pools(prof, cell)
    n_samples = None if n_samples is None or n_samples >= prof.n_train_samples else int(n_samples)
    out = {}
    for n in hof_counts(len(pool), fractions):
        full = n == len(pool)
        tag = "main" if full and prof is profile and n_samples is None else f"hofs-{n}"
        ensure_model(prof, cell, layout, tag=tag, train_hofs=None if full else list(pool[:n]), n_train_samples=n_samples)
        metrics = ensure_metrics(prof, cell, layout, tag=tag)
        out[n] = metrics["sets"]["test_hofs"].get("table1_pct", {})
    return out


def record_table_status(profile: "Profile", cell: str, layout: "RunLayout", table: str,
                        n_train_hofs: int | None = None) -> dict[str, str]:
    """Record the status of Table 1 (its s_thr, I_thr row) or Table 2 (its row with every train HoF) from the
    metrics of that row's model, judged against the paper's row (:mod:`noble.pipeline.status`)."""
    from noble.pipeline.status import record_model_results
    from noble.plotting.tables import PAPER_TABLE1, PAPER_TABLE2

    prof = ablation_profile(profile)
    if table == "Table 1":
        tag, set_name, paper = feature_set_tag(("slope", "intercept"), main=prof is profile), "train_hofs_unseen_currents", PAPER_TABLE1["s_thr, I_thr"]
    elif table == "Table 2":
        from noble.pipeline.steps import hof_pools

        pool, _ = hof_pools(prof, cell)
        n = n_train_hofs or len(pool)
        full = n == len(pool)
        tag = "main" if full and prof is profile else f"hofs-{n}"
        set_name, paper = "test_hofs", PAPER_TABLE2[50]
    else:
        raise AnalysisError(f"no status rule for {table!r}")
    path = layout.results_dir / f"metrics_{tag}.json"
    if not path.is_file():
        raise AnalysisError(f"{path}: no metrics of the {table} model {tag!r}; compute the table first")
    result = json.loads(path.read_text())["sets"][set_name]
    label = f"{table} row of model {tag!r}"
    return record_model_results(layout.results_dir, profile.name, (table,), {label: result},
                                {label: {k: v for k, v in paper.items() if v is not None}}).as_dict()


def record_table3_status(profile: "Profile", layout: "RunLayout", rows: Mapping[float, Mapping[str, float]]) -> dict[str, str]:
    """Record Table 3's status: the last checkpoint's sag error at lambda = 25 against the paper's (9.6%)."""
    from noble.pipeline.status import TOLERANCE, Status, record
    from noble.plotting.tables import PAPER_TABLE3

    lam = 25.0 if 25.0 in rows else max(rows)
    row = rows[lam]
    before, after = float(row.get("Before: Sag", math.nan)), float(row.get("Checkpoint 3: Sag", math.nan))
    paper = PAPER_TABLE3[25.0]["Checkpoint 3: Sag"]
    detail = (f"lambda {lam:g}: sag error before {before:.3g}%, after {after:.3g}% (paper {PAPER_TABLE3[25.0]['Before: Sag']}%"
              f" -> {paper}%)")
    if math.isfinite(after) and after <= TOLERANCE * paper:
        label = "reproduced"
    elif math.isfinite(after) and math.isfinite(before) and after < before:
        label = f"regenerated at {profile.name} scale"
    else:
        label = "not reproduced"
    status = Status(label, detail)
    record(layout.results_dir, "Table 3", status, profile.name)
    return status.as_dict()


def record_speed_status(profile: "Profile", layout: "RunLayout", rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Record the speed item's status: the fastest NOBLE row against NEURON, with the device it was measured on."""
    from noble.pipeline.status import Status, record

    noble_rows = [r for r in rows if str(r.get("part")) == "noble" and _finite(r.get("speedup_vs_neuron"))]
    if not noble_rows:
        status = Status("not measured", "no NOBLE row with a NEURON reference in the speed table")
    else:
        best = max(noble_rows, key=lambda r: float(r["speedup_vs_neuron"]))
        status = Status(
            f"measured on {best.get('device', '?')}",
            f"fastest NOBLE row ({best.get('method')}, batch {best.get('batch_size')}, {best.get('workers')} cores):"
            f" {float(best['speedup_vs_neuron']):,.0f}x NEURON on one core, {float(best['speedup_vs_arbor']):,.1f}x"
            f" Arbor (paper: about 4,200x NEURON on one RTX 4090)")
    record(layout.results_dir, "Speed (App. E)", status, profile.name)
    return status.as_dict()


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def checkpoint_epochs(total: int, n: int = 3) -> list[int]:
    """``n`` evenly spaced epochs ending at ``total`` (the paper's 100/200/300 of 300; repeats when ``total < n``)."""
    if total < 1:
        raise AnalysisError(f"fine-tuning needs at least one epoch, not {total}")
    return [max(1, int(round(total * (k + 1) / n))) for k in range(n)]


def table3_results(profile: "Profile", cell: str, layout: "RunLayout", weights: Sequence[float] = (0.0, 25.0)
                   ) -> tuple[dict[float, dict[str, float]], list[int]]:
    """Table 3: voltage and sag errors (%) before and at three checkpoints of the sag fine-tuning, per loss weight
    lambda (rows), and the checkpoint epochs."""
    import csv

    from noble.pipeline.steps import ensure_model

    out: dict[float, dict[str, float]] = {}
    epochs: list[int] = []
    for lam in weights:
        finetune: dict[str, float] = {"weight": float(lam)}
        if analysis_settings(profile).finetune_max_minutes is not None:
            finetune["max_minutes"] = float(analysis_settings(profile).finetune_max_minutes)
        model_dir = ensure_model(profile, cell, layout, tag=f"sag-l{lam:g}", finetune=finetune)
        state = json.loads((model_dir / "pipeline_step.json").read_text())
        with (model_dir / "finetune_history.csv").open() as fh:
            history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
        if not history:
            raise AnalysisError(f"{model_dir}: the fine-tuning history is empty")
        before = state.get("before", {})
        row = {"Before: Voltage": float(before.get("voltage_rel_l2_pct", math.nan)),
               "Before: Sag": float(before.get("sag_rel_error_pct", math.nan)),
               "Before: Sag L2 (|sag| >= 0.1 mV)": float(before.get("sag_rel_l2_bounded_pct", math.nan))}
        epochs = checkpoint_epochs(len(history))
        for k, ep in enumerate(epochs, start=1):
            h = history[ep - 1]
            row[f"Checkpoint {k}: Voltage"] = h.get("voltage_rel_l2_pct", math.nan)
            row[f"Checkpoint {k}: Sag"] = h.get("sag_rel_error_pct", math.nan)
            row[f"Checkpoint {k}: Sag L2 (|sag| >= 0.1 mV)"] = h.get("sag_rel_l2_bounded_pct", math.nan)
        row["Traces with |sag| < 0.1 mV (excluded from Sag L2)"] = float(before.get("n_small_sag", math.nan))
        out[float(lam)] = row
    return out, epochs


def speed_rows_cached(profile: "Profile", cell: str, results_dir: Path, model_dir: Path | None = None
                      ) -> list[dict[str, Any]]:
    """The appendix-E speed table measured on this machine (CPU, and the GPU when present), cached as CSV.

    Timing uses an untrained network of the settings' model profile (the paper's size, except on the quick
    profile) unless ``model_dir`` is given; see :mod:`noble.bench`. Batch sizes are the settings'
    ``gpu_batches`` when a GPU is present (the paper's batch 1000 included), else ``cpu_batches``.
    """
    import torch

    from noble.bench.speed_table import BenchSettings, speed_table
    from noble.bench.table import read_csv, write_csv

    speed = dict(analysis_settings(profile).speed)
    cpu_batches, gpu_batches = speed.pop("cpu_batches"), speed.pop("gpu_batches")
    gpu = torch.cuda.is_available()
    settings = replace(BenchSettings(), cell=cell, progress=False, batches=tuple(gpu_batches if gpu else cpu_batches),
                       **speed)
    device = torch.cuda.get_device_name(0) if gpu else "cpu"
    sig = {"settings": asdict(settings), "device": device, "model": None if model_dir is None else _weights_sha(model_dir)}
    path = results_dir / "speed_table.csv"
    sig_path = results_dir / "speed_table.signature"
    if path.is_file() and sig_path.is_file() and sig_path.read_text() == signature_of(sig):
        return read_csv(path)
    rows = speed_table(settings, model_dir=model_dir, log=lambda msg: None)
    write_csv(rows, path)
    sig_path.write_text(signature_of(sig))
    return read_csv(path)


# ------------------------------------------------------------------------------------------------ notebook helpers


def nearest_index(values: Sequence[float], target: float) -> int:
    """Index of the value nearest to ``target``."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise AnalysisError("no values to choose from")
    return int(np.argmin(np.abs(v - target)))


def nearest_amplitude(amplitudes_nA: Sequence[float], target_nA: float) -> float:
    """The amplitude (nA) of a grid nearest to ``target_nA``."""
    return float(np.asarray(amplitudes_nA, dtype=float)[nearest_index(amplitudes_nA, target_nA)])


def specimen_id(cell: "Cell") -> int:
    """The Allen specimen id of a cell package (the number ending its name)."""
    tail = cell.name.rsplit("_", 1)[-1]
    if not tail.isdigit():
        raise AnalysisError(f"cell name {cell.name!r} does not end with an Allen specimen id")
    return int(tail)


def experimental_sweeps(cell: "Cell", amplitudes_nA: Sequence[float], download: bool = False, tol_nA: float = 0.015,
                        t_stop_ms: float = 515.0, delay_ms: float = 15.0) -> dict[float, tuple[np.ndarray, np.ndarray]] | None:
    """Recorded Long Square sweeps nearest to each amplitude, shifted so their step starts at ``delay_ms`` and
    cut at ``t_stop_ms``: ``{amplitude: (time ms, voltage mV)}``.

    Uses an NWB file already in the Allen cache (:func:`noble.data.allen.allen_cache_dir`); with ``download``
    it fetches it (needs internet). ``None`` when no file is available.
    """
    from noble.data.allen import allen_cache_dir, long_square_sweeps, read_long_square_sweeps

    sid = specimen_id(cell)
    local = sorted(allen_cache_dir().glob(f"**/specimen_{sid}/*.nwb"))
    if local:
        sweeps = read_long_square_sweeps(local[0])
    elif download:
        sweeps = long_square_sweeps(sid)
    else:
        return None
    out = {}
    for a in amplitudes_nA:
        near = [s for s in sweeps if abs(s.amplitude - a) <= tol_nA]
        if near:
            s = min(near, key=lambda s: abs(s.amplitude - a))
            t = s.t - s.stim_start + delay_ms
            keep = (t >= 0) & (t <= t_stop_ms)
            out[float(a)] = (t[keep], s.v[keep])
    return out or None


def ensemble_feature_errors_cached(fi_path: Path, model_dir: Path, hofs: Sequence[int], amplitude_nA: float,
                                   hull: Mapping[str, np.ndarray], cell: "Cell", results_dir: Path,
                                   features: Sequence[str] = FIG5_FEATURES) -> dict[str, dict[str, np.ndarray]]:
    """Fig 5B: per-model relative errors (%) against the experiment of the PDE and NOBLE ensembles of ``hofs``
    and of the hull samples (``hull`` from :func:`hull_ensemble_cached`, which must include ``amplitude_nA``)."""
    from noble.checkpoint import load_model

    j = nearest_index(hull["amplitudes"], amplitude_nA)
    if abs(float(hull["amplitudes"][j]) - amplitude_nA) > 1e-9:
        raise AnalysisError(f"the hull ensemble has no traces at {amplitude_nA} nA")
    sig = {"weights": _weights_sha(model_dir), "hofs": [int(h) for h in hofs], "amp": amplitude_nA,
           "hull": signature_of(np.asarray(hull["raw"]).round(12).tolist()), "features": list(features),
           "exp": dict(cell.experimental_features)}

    def compute() -> dict[str, Any]:
        pde, time = pde_traces(fi_path, hofs, amplitude_nA)
        model = load_model(model_dir)
        nob = model.predict(np.full(len(hofs), amplitude_nA), hofs=[int(h) for h in hofs])
        out = {}
        for name, traces in (("PDE, train HoFs", pde), ("NOBLE, train HoFs", nob), ("NOBLE, hull samples", hull["traces"][j])):
            rows = trace_features(traces, time, features=features)
            out[name] = {f: np.where(np.isfinite(e), e, np.nan).tolist()
                         for f, e in errors_vs_experiment(rows, cell.experimental_features, features).items()}
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = cached_json(results_dir / "ensemble_feature_errors.json", sig, compute)
    return {src: {f: np.asarray(v, dtype=float) for f, v in per.items()} for src, per in res.items()}


def subsampling_summary(result: Mapping[str, Any], factor: int = 3) -> "Any":
    """A DataFrame: per feature, the mean subsampling error (%) of each strategy at ``factor`` and the HoF-experiment gap."""
    import pandas as pd

    if factor not in result["factors"]:
        raise AnalysisError(f"factor {factor} was not analysed (factors: {result['factors']})")
    i = result["factors"].index(factor)
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in result["features"]:
            row = {SUBSAMPLING_STRATEGIES[s]: float(np.nanmean(np.asarray(e, dtype=float)[i]))
                   for s, e in result["errors"][f].items()}
            row["HoF vs experiment (mean)"] = float(result["gap"][f][0])
            rows[f] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = f"feature (factor {factor}, %)"
    return df
