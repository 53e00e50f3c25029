"""The single unit system of noble.

Every public function takes and returns current in nA, voltage in mV, time in ms, frequency in Hz,
conductance density in S/cm^2, capacitance in uF/cm^2, axial resistivity in ohm*cm, lengths in um,
concentration in mM and temperature in degrees Celsius. Conversions happen only at the edges (file
readers, simulators), through the helpers below.
"""
from __future__ import annotations

CURRENT = "nA"
VOLTAGE = "mV"
TIME = "ms"
FREQUENCY = "Hz"

UNITS = {"current": CURRENT, "voltage": VOLTAGE, "time": TIME, "frequency": FREQUENCY}


def amperes_to_nA(value: float) -> float:
    """Convert a current from A to nA."""
    return value * 1e9


def picoamperes_to_nA(value: float) -> float:
    """Convert a current from pA to nA."""
    return value * 1e-3


def volts_to_mV(value: float) -> float:
    """Convert a potential from V to mV."""
    return value * 1e3


def seconds_to_ms(value: float) -> float:
    """Convert a time from s to ms."""
    return value * 1e3
