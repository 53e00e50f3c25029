"""PDE ground truth: simulation engines, the step protocol and dataset generation (nA, mV, ms)."""
from noble.sim.dataset import (
    DatasetPlan,
    generate_dataset,
    grid_plan,
    quick_plan,
    sampled_plan,
)
from noble.sim.engine import DEFAULT_ENGINE, ENGINES, Engine, UnknownEngineError, get_engine
from noble.sim.protocol import AMPLITUDE_RANGE, PAPER_PROTOCOL, ProtocolError, StepProtocol, decimate_traces
from noble.sim.sampling import PAPER_SAMPLER, SkewNormalSampler
from noble.sim.traces import TraceDataset, read_dataset, upgrade_dataset, write_dataset

__all__ = [
    "AMPLITUDE_RANGE",
    "DEFAULT_ENGINE",
    "ENGINES",
    "DatasetPlan",
    "Engine",
    "PAPER_PROTOCOL",
    "PAPER_SAMPLER",
    "ProtocolError",
    "TraceDataset",
    "SkewNormalSampler",
    "StepProtocol",
    "UnknownEngineError",
    "decimate_traces",
    "generate_dataset",
    "get_engine",
    "grid_plan",
    "quick_plan",
    "read_dataset",
    "sampled_plan",
    "upgrade_dataset",
    "write_dataset",
]
