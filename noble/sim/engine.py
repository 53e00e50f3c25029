"""The simulator interface shared by every engine, and engine lookup by name.

Units: amplitudes nA, voltages mV, times ms.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

from noble.errors import NobleError
from noble.sim.protocol import StepProtocol

if TYPE_CHECKING:  # pragma: no cover
    from noble.data import HofModel


class UnknownEngineError(NobleError):
    """An engine name that noble does not provide."""


class EngineUnavailableError(NobleError):
    """An engine whose simulator or mechanisms cannot be loaded here."""


@runtime_checkable
class Engine(Protocol):
    """A multi-compartment simulator that runs a HoF model under a step protocol."""

    name: str

    def version(self) -> str:
        """Simulator name and version, e.g. ``"arbor 0.12.2"``."""
        ...

    def simulate(
        self,
        model: "HofModel",
        morphology: Path,
        amplitudes: Sequence[float],
        protocol: StepProtocol,
    ) -> np.ndarray:
        """Somatic voltage (mV) for each step amplitude (nA).

        Returns ``[len(amplitudes), protocol.n_raw]`` float64, sampled every ``protocol.dt`` ms from t = 0
        (the step starts at ``protocol.stim_start``), before any filtering or decimation.
        """
        ...


#: Engine name -> (module, class). Modules are imported only when the engine is requested.
ENGINES: dict[str, tuple[str, str]] = {
    "arbor": ("noble.sim.arbor_engine", "ArborEngine"),
    "neuron": ("noble.sim.neuron_engine", "NeuronEngine"),
}

DEFAULT_ENGINE = "arbor"


def get_engine(name: str = DEFAULT_ENGINE, **options) -> Engine:
    """An engine instance by name (``"arbor"``, the default, or ``"neuron"``); options go to its constructor."""
    if name not in ENGINES:
        raise UnknownEngineError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    module_name, class_name = ENGINES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailableError(f"engine {name!r} cannot be loaded: {exc}") from exc
    return getattr(module, class_name)(**options)
