"""Standard coal equivalent and CO₂ of electricity, with configurable factors (domain-methods B3).

Defaults: electricity equivalent value 0.1229 kgce/kWh (860 kcal / 7000 kcal per kgce, GB/T 2589-2020);
CO₂ 0.5703 kg/kWh, the national average grid emission factor for 2022 published by China's Ministry of
Ecology and Environment (2024) [K: verify the current year's figure]. Regional factors, or the "equal value"
coal factor (power-plant coal per kWh supplied, about 0.30 kgce/kWh), are passed as ``CarbonFactors``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True, slots=True)
class CarbonFactors:
    """Conversion factors per kWh of electricity."""

    coal_kgce_per_kwh: float = 0.1229
    co2_kg_per_kwh: float = 0.5703
    source: str = "GB/T 2589-2020 equivalent value; MEE 2022 national grid average CO2 factor"

    def __post_init__(self) -> None:
        if self.coal_kgce_per_kwh < 0 or self.co2_kg_per_kwh < 0:
            raise ValueError("carbon factors must not be negative")


@dataclass(frozen=True, slots=True)
class CarbonResult:
    """Standard coal equivalent and CO₂ of an amount of electricity."""

    energy_kwh: float
    coal_tce: float  # tonnes of standard coal equivalent
    co2_t: float


def carbon(energy_kwh: float | ArrayLike, factors: CarbonFactors | None = None) -> CarbonResult:
    """kWh -> tce and tCO₂ with the given factors (defaults: China, see the module docstring)."""
    f = factors or CarbonFactors()
    kwh = float(np.sum(np.asarray(energy_kwh, dtype=np.float64)))
    return CarbonResult(kwh, kwh * f.coal_kgce_per_kwh / 1000.0, kwh * f.co2_kg_per_kwh / 1000.0)
