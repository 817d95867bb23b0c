"""Builders of small synthetic series for the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def knee_series(n: int = 8, days: int = 400, seed: int = 0) -> pd.DataFrame:
    """DCR-like series: flat, then rising after a knee whose day varies by series (long table)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        knee = rng.uniform(180, 260)
        t = np.arange(days, dtype=float)
        rel = 1 + 0.0001 * t + 0.5 * np.clip((t - knee) / 200, 0, None) ** 2
        value = rng.uniform(3, 6) * rel * (1 + rng.normal(0, 0.005, days))
        frames.append(pd.DataFrame({"series_id": f"b{i}", "day": t.astype(int), "value": value}))
    return pd.concat(frames, ignore_index=True)
