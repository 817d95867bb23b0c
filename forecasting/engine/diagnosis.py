"""Why is a battery deteriorating? Rules over its recent daily aggregates and its bank's.

:func:`diagnose` takes one battery's recent daily aggregates (``voltage``, ``temperature``, ``dcr``,
``micro_v`` micro-discharge voltage, ``emf``; any may be missing), the same columns of its bank's
mean prefixed ``bank_`` and, if known, the string's ``float_current``. It returns the most likely
cause with the evidence in plain words. The physical signatures and their sources are in
docs/forecasting.md ("Diagnosis rules"); thresholds are module constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CAUSES = (
    "open_cell",
    "thermal_runaway",
    "shorted_cell",
    "connection",
    "dry_out",
    "sulfation",
    "overcharge",
    "undercharge",
    "grid_corrosion",
)
NONE = "none"

DCR_RISE = 0.10  # DCR +10 % over the window / baseline: deteriorating (IEEE 1188 warns at +20 %)
DCR_OFF_SCALE = 2.0  # DCR x2 of baseline, or unreadable: open path (vendor manuals)
VOLT_COLLAPSE = 0.25  # block voltage 25 % below the bank: open cell
STEP = 0.12  # a DCR step of 12 % within two days...
STEP_FLAT_V = 0.005  # ...while voltage moves less than 0.5 %: a connection, not chemistry
ERRATIC = 0.08  # day-to-day DCR scatter (MAD) above 8 %: loose or corroded connection
V_HIGH = 0.01  # float voltage 1 % above the bank: charging too hard / dry-out
V_LOW = 0.01  # 1 % below the bank: undercharged
SULF_V = 0.015  # EMF / micro-discharge / float 1.5 % below the bank: sulfating. Not less: blocks of
# one string differ by +-0.5 % from charger sharing and the BMU's calibration alone
WARM_C = (0.5, 5.0)  # a little warmer than the bank: dry-out
HOT_C = 8.0  # well above the bank / ambient: thermal-runaway risk (IEEE 1491)
CURRENT_X = 3.0  # float current several times its steady value (IEEE 1188 / 1491)
CELL_V = 2.1  # one lead-acid cell at rest; a shorted cell drops a block by about this


@dataclass
class Diagnosis:
    cause: str  # one of CAUSES or "none"
    evidence: list[str]
    signals: dict[str, float] = field(default_factory=dict)
    contributions: list[tuple[str, float]] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


def _med(s: pd.Series | None, rows: slice) -> float:
    if s is None:
        return float("nan")
    v = s.iloc[rows].dropna()
    return float(v.median()) if len(v) else float("nan")


def _pct(x: float) -> str:
    return f"{x * 100 + 0.0:+.1f} %"


def _signals(df: pd.DataFrame, dcr_baseline: float | None, k: int) -> dict[str, float]:
    """Summary numbers of the window: changes first->last k days, offsets from the bank."""
    col = df.get
    first, last = slice(0, k), slice(-k, None)
    sig: dict[str, float] = {"days": float(len(df))}
    dcr = col("dcr")
    if dcr is not None:
        start = dcr_baseline if dcr_baseline else _med(dcr, first)
        now = _med(dcr, last)
        sig["dcr_change"] = now / start - 1
        sig["dcr_from_baseline"] = 1.0 if dcr_baseline else 0.0
        sig["dcr_max_ratio"] = float(np.nanmax(dcr.to_numpy(dtype=float))) / start
        sig["dcr_unreadable"] = float(dcr.iloc[-k:].isna().mean())
        d = dcr.to_numpy(dtype=float)
        roll = pd.Series(d).rolling(3, min_periods=2).median().to_numpy()
        steps = np.abs(roll[3:] - roll[:-3]) / np.maximum(roll[:-3], 1e-12)
        sig["dcr_step"] = (
            float(np.nanmax(steps)) if len(steps) and np.isfinite(steps).any() else 0.0
        )
        sig["dcr_step_at"] = float(np.nanargmax(steps) + 3) if sig["dcr_step"] > 0 else -1.0
        rel_diff = np.diff(d) / np.maximum(d[:-1], 1e-12)
        finite = rel_diff[np.isfinite(rel_diff)]
        sig["dcr_scatter"] = (
            float(np.median(np.abs(finite - np.median(finite)))) if len(finite) else 0.0
        )
        # steadiness of the rise: share of the variance a straight line explains
        x = np.arange(len(d))[np.isfinite(d)]
        if len(x) > 5:
            r = np.corrcoef(x, d[np.isfinite(d)])[0, 1]
            sig["dcr_linear_r2"] = float(r * r)
    for name in ("voltage", "emf", "micro_v", "temperature"):
        s, bank = col(name), col(f"bank_{name}")
        if s is None:
            continue
        if name == "temperature":
            sig["temp_change_c"] = _med(s, last) - _med(s, first)
            if bank is not None:
                sig["temp_vs_bank_c"] = _med(s - bank, last)
            continue
        sig[f"{name}_change"] = _med(s, last) / _med(s, first) - 1
        if bank is not None:
            sig[f"{name}_vs_bank"] = _med(s / bank, last) - 1
            sig[f"{name}_vs_bank_abs"] = _med(s - bank, last)
            sig[f"{name}_vs_bank_mean"] = float((s / bank - 1).mean())
            sig[f"bank_{name}_change"] = _med(bank, last) / _med(bank, first) - 1
    cur = col("float_current")
    if cur is not None:
        steady = _med(cur.abs(), first)
        sig["float_current_x"] = _med(cur.abs(), last) / steady if steady > 0 else float("nan")
    return sig


def _g(sig: dict[str, float], key: str, default: float = 0.0) -> float:
    v = sig.get(key, default)
    return default if v is None or not np.isfinite(v) else float(v)


def _rules(sig: dict[str, float], cells: int) -> dict[str, tuple[float, list[str]]]:
    """Score in [0, ~3] and evidence of each cause whose signature is present."""
    out: dict[str, tuple[float, list[str]]] = {}
    dcr = _g(sig, "dcr_change")
    v_bank = _g(sig, "voltage_vs_bank")
    v_change = _g(sig, "voltage_change")
    t_bank = _g(sig, "temp_vs_bank_c")
    days = int(_g(sig, "days"))
    emf_low = min(_g(sig, "emf_vs_bank"), _g(sig, "micro_v_vs_bank"))
    steady_v = f"float voltage changed {_pct(v_change)} ({_pct(v_bank)} against the bank)"
    # DCR is measured against the battery's settled baseline when it has one, else the window
    dcr_rise = (
        f"DCR {_pct(dcr)} above its baseline"
        if _g(sig, "dcr_from_baseline")
        else f"DCR {_pct(dcr)} in {days} days"
    )
    temp = f"temperature {t_bank + 0.0:+.1f} C against the bank"

    if (
        _g(sig, "dcr_max_ratio", 1) >= DCR_OFF_SCALE
        or _g(sig, "dcr_unreadable") >= 0.5
        or v_bank <= -VOLT_COLLAPSE
    ):
        what = []
        if _g(sig, "dcr_max_ratio", 1) >= DCR_OFF_SCALE:
            what.append(f"DCR reached {_g(sig, 'dcr_max_ratio'):.1f} x its baseline")
        if _g(sig, "dcr_unreadable") >= 0.5:
            what.append("DCR unreadable (off-scale) on most recent days")
        if v_bank <= -VOLT_COLLAPSE:
            what.append(f"block voltage collapsed {-v_bank * 100:.1f} % below the bank")
        out["open_cell"] = (3.0, [", ".join(what) + ": an open path inside the battery"])
    current_x = _g(sig, "float_current_x", float("nan"))
    if t_bank >= HOT_C and (not np.isfinite(current_x) or current_x >= CURRENT_X):
        cur = (
            f" while the string float current is {current_x:.1f} x its steady value"
            if np.isfinite(current_x)
            else ""
        )
        out["thermal_runaway"] = (2.5 + t_bank / 100, [f"case {t_bank:.1f} C above the bank{cur}"])
    drop_v = -_g(sig, "voltage_vs_bank_abs")
    if cells > 1 and 0.6 * CELL_V <= drop_v <= 1.5 * CELL_V and _g(sig, "bank_voltage_change") >= 0:
        out["shorted_cell"] = (
            2.2,
            [
                f"block voltage {drop_v:.2f} V below the bank (one cell is ~{CELL_V} V of {cells}) "
                f"while the other blocks rose {_pct(_g(sig, 'bank_voltage_change'))}"
            ],
        )
    step = _g(sig, "dcr_step")
    if step >= STEP and abs(v_change) < STEP_FLAT_V and abs(_g(sig, "temp_change_c")) < 2:
        at = int(_g(sig, "dcr_step_at"))
        out["connection"] = (
            2.0 + step,
            [
                f"DCR jumped {_pct(step)} within 2 days (day {at} of {days}) "
                f"while {steady_v} and {temp}"
            ],
        )
    elif _g(sig, "dcr_scatter") >= ERRATIC and abs(v_change) < STEP_FLAT_V:
        out["connection"] = (
            1.8,
            [f"DCR erratic (day-to-day scatter {_pct(_g(sig, 'dcr_scatter'))}) while {steady_v}"],
        )
    if dcr >= DCR_RISE and v_bank >= V_HIGH and WARM_C[0] <= t_bank <= WARM_C[1]:
        out["dry_out"] = (
            1.5 + dcr,
            [f"{dcr_rise} while {steady_v} and it runs {t_bank:.1f} C warmer than the bank"],
        )
    if dcr >= DCR_RISE and (emf_low <= -SULF_V or v_bank <= -SULF_V):
        out["sulfation"] = (
            1.5 + dcr,
            [
                f"{dcr_rise} while EMF/micro-discharge voltage is "
                f"{_pct(emf_low)} "
                f"against the bank and {steady_v} (undercharge history)"
            ],
        )
    if v_bank >= V_HIGH and "dry_out" not in out:
        out["overcharge"] = (
            1.0 + v_bank * 10,
            [f"float voltage {_pct(v_bank)} above the bank, {temp}"],
        )
    if (
        v_bank <= -V_LOW
        and "sulfation" not in out
        and "shorted_cell" not in out
        and "open_cell" not in out
    ):
        out["undercharge"] = (
            1.0 - v_bank * 10,
            [f"float voltage {_pct(v_bank)} below the bank, DCR {_pct(dcr)}"],
        )
    if (
        dcr >= DCR_RISE / 2
        and _g(sig, "dcr_linear_r2") >= 0.6
        and abs(t_bank) < WARM_C[0] * 2
        and "connection" not in out
    ):
        hist = " with an overcharge history" if v_bank > 0.3 * V_HIGH else ""
        out["grid_corrosion"] = (
            1.2 + dcr,
            [
                f"{dcr_rise}, rising steadily over the last {days} days "
                f"(straight line, R2 {_g(sig, 'dcr_linear_r2'):.2f}) "
                f"while {steady_v} and {temp}{hist}"
            ],
        )
    return out


def diagnose(
    recent: pd.DataFrame,
    *,
    dcr_baseline: float | None = None,
    nominal_voltage: float | None = None,
    edge_days: int = 7,
    model: Any = None,
    model_input: pd.DataFrame | None = None,
    horizon: int = 365,
) -> Diagnosis:
    """Most likely cause of a battery's deterioration, or "none", with plain-word evidence.

    ``recent``: one row per day, oldest first (e.g. the last 90 days), columns among voltage,
    temperature, dcr, micro_v, emf, their ``bank_`` means and float_current. ``dcr_baseline``: the
    battery's settled DCR (else the first ``edge_days`` of the window). ``nominal_voltage`` (e.g.
    12): cells per block for the shorted-cell rule. With ``model`` (a QuantileForecaster) and
    ``model_input`` (this battery's long table for the model's target), the evidence also lists the
    top feature contributions of the median forecast at ``horizon`` days (LightGBM pred_contrib).
    """
    df = recent.reset_index(drop=True)
    k = max(1, min(edge_days, len(df) // 3))
    sig = _signals(df, dcr_baseline, k)
    cells = round(nominal_voltage / 2.0) if nominal_voltage else 1
    found = _rules(sig, cells)
    scores = {c: round(s, 3) for c, (s, _) in found.items()}
    if found:
        cause = max(found, key=lambda c: (found[c][0], -CAUSES.index(c)))
        evidence = list(found[cause][1])
    else:
        cause, evidence = NONE, ["no measurement moved beyond its rule's threshold"]
    contributions: list[tuple[str, float]] = []
    if model is not None and model_input is not None:
        from .features import build_panel

        panel = build_panel(model_input, model.target)
        feats, _, _ = model.feature_frame(panel, np.array([0]), panel.lengths[:1] - 1)
        contributions = model.contributions(feats, horizon)[0]
        evidence.append("forecast drivers: " + ", ".join(f"{n} {v:+.3f}" for n, v in contributions))
    return Diagnosis(cause, evidence, sig, contributions, scores)
