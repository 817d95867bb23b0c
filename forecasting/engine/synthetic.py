"""A synthetic fleet for benchmarks and tests: daily aggregates of many batteries, vectorised.

DCR rises slowly, then faster (a knee), at a rate that doubles for every 9 C above 25 C (Arrhenius
rule of thumb, DESIGN.md); voltage, EMF and micro-discharge voltage drift with it. Not a physical
model: plausible shapes and scales for timing runs and for tests of the engine's plumbing.
"""

from __future__ import annotations

import numpy as np

from .features import Panel

TARGETS = ("dcr", "voltage", "emf", "micro_v")


def synthetic_fleet(n: int, days: int, seed: int = 0) -> dict[str, Panel]:
    """One panel per parameter (same batteries and days), with temperature and attributes."""
    rng = np.random.default_rng(seed)
    t = np.arange(days, dtype=np.float32)[None, :]
    mean_temp = rng.normal(25.0, 4.0, (n, 1)).astype(np.float32)
    season = 5.0 * np.sin(2 * np.pi * (t + rng.uniform(0, 365, (n, 1))) / 365.0)
    temperature = (mean_temp + season + rng.normal(0, 0.5, (n, days))).astype(np.float32)
    speed = 2.0 ** ((mean_temp - 25.0) / 9.0) * rng.lognormal(0, 0.25, (n, 1))
    years = speed * t / 365.0
    rel = 1.0 + 0.04 * years + 0.012 * years**3
    base = rng.uniform(3.0, 6.0, (n, 1)).astype(np.float32)  # mOhm, 12 V blocks
    dcr = base * rel * (1 + rng.normal(0, 0.01, (n, days)))
    voltage = 13.6 + 0.05 * (rel - 1) + rng.normal(0, 0.01, (n, days))
    emf = 12.85 - 0.15 * (rel - 1) + rng.normal(0, 0.01, (n, days))
    micro_v = 12.4 - 0.8 * (rel - 1) * base / 5 + rng.normal(0, 0.02, (n, days))
    lengths = np.full(n, days, dtype=np.int64)
    ids = np.arange(n)
    chemistry = np.where(rng.random(n) < 0.8, "vrla", "vented")
    unit_type = np.where(rng.random(n) < 0.7, "H", "L")
    position = (ids % 40 + 1).astype(float)
    panels = {}
    for name, values in zip(TARGETS, (dcr, voltage, emf, micro_v), strict=True):
        panels[name] = Panel(
            ids,
            np.zeros(n, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
            lengths,
            temperature=temperature.astype(np.float64),
            static={"chemistry": chemistry, "unit_type": unit_type, "position": position},
        )
    return panels
