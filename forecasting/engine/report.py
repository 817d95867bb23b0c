"""Back-test scoring: errors per horizon bucket, coverage, RUL errors, and the Markdown table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SMOOTH_DAYS = 9  # observed end of life: centred rolling median of this many days crosses


@dataclass
class Scores:
    abs_err: dict[str, list[float]] = field(default_factory=dict)  # bucket -> errors
    inside: dict[str, list[bool]] = field(default_factory=dict)  # bucket -> inside [q10, q90]
    rul: list[dict[str, Any]] = field(default_factory=list)


def horizon_buckets(longest: int) -> list[tuple[int, int | None]]:
    """Horizon buckets (first, last day; None: open) adapted to the data length."""
    edges = (30, 90, 180, 365) if longest > 400 else (10, 30, 60, 120)
    out: list[tuple[int, int | None]] = []
    lo = 1
    for e in edges:
        out.append((lo, e))
        lo = e + 1
    out.append((lo, None))
    return out


def bucket_label(b: tuple[int, int | None]) -> str:
    return f"{b[0]}-{b[1]}" if b[1] is not None else f">{b[0] - 1}"


def score_path(
    scores: Scores, buckets: list, actual: np.ndarray, pred: np.ndarray, band: tuple | None = None
) -> None:
    h = np.arange(1, len(actual) + 1)
    ok = np.isfinite(actual)
    err = np.abs(pred - actual)
    for b in buckets:
        sel = ok & (h >= b[0]) & ((h <= b[1]) if b[1] is not None else True)
        scores.abs_err.setdefault(bucket_label(b), []).extend(err[sel].tolist())
        if band is not None:
            inside = (actual >= band[0]) & (actual <= band[1])
            scores.inside.setdefault(bucket_label(b), []).extend(inside[sel].tolist())


def rul_record(
    series: Any, origin: int, true: float, pred: float, horizon: int, **extra: Any
) -> dict:
    abs_err = abs(pred - true) if np.isfinite(pred) else abs(horizon - true)
    rel = min(1.0, abs_err / true) if np.isfinite(pred) else 1.0
    rec = {"series": str(series), "origin": origin, "true": true, "pred": _num(pred)}
    rec.update({"abs_error": abs_err, "rel_error": rel}, **{k: _num(v) for k, v in extra.items()})
    return rec


def _mean(xs: list) -> float | None:
    return float(np.mean(xs)) if xs else None


def _num(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _summary(parts: list[Scores], buckets: list, model: str) -> dict[str, Any]:
    mae = {}
    for b in buckets:
        errs = [e for p in parts for e in p.abs_err.get(bucket_label(b), [])]
        mae[bucket_label(b)] = float(np.mean(errs)) if errs else None
    inside = [x for p in parts for v in p.inside.values() for x in v]
    rul = [r for p in parts for r in p.rul]
    out: dict[str, Any] = {
        "mae_by_horizon": mae,
        "coverage_80": float(np.mean(inside)) if model == "lightgbm" and inside else None,
        "rul_abs_error": float(np.mean([r["abs_error"] for r in rul])) if rul else None,
        "rul_rel_error": float(np.mean([r["rel_error"] for r in rul])) if rul else None,
        "rul_count": len(rul),
    }
    if model == "lightgbm":
        out["coverage_by_horizon"] = {
            bucket_label(b): _mean([x for p in parts for x in p.inside.get(bucket_label(b), [])])
            for b in buckets
        }
    if model == "lightgbm" and rul:
        hits = [
            r["early"] is not None and r["early"] <= r["true"] <= (r["late"] or np.inf) for r in rul
        ]
        out["rul_interval_coverage"] = float(np.mean(hits))
    return out


def aggregate(scores: dict, origins: list[int], buckets: list) -> dict[str, Any]:
    models = {}
    for m in ("lightgbm", "linear", "exponential"):
        parts = [scores[(m, o)] for o in origins]
        summary = _summary(parts, buckets, m)
        summary["by_origin"] = {str(o): _summary([scores[(m, o)]], buckets, m) for o in origins}
        summary["rul_details"] = [r for p in parts for r in p.rul]
        models[m] = summary
    return {"models": models}


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".")


def format_report(report: dict[str, Any], title: str = "") -> str:
    """The full table (every model, every origin) as Markdown."""
    labels = report["horizon_buckets"]
    head = [
        "model",
        "origin",
        *[f"MAE {b}" for b in labels],
        "cov80",
        "RUL abs",
        "RUL rel",
        "n RUL",
    ]
    lines = []
    if title:
        lines += [title, ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, summ in report["models"].items():
        rows = [(str(o), summ["by_origin"][str(o)]) for o in report["origins"]] + [("all", summ)]
        for origin, s in rows:
            cells = [m, origin, *[_fmt(s["mae_by_horizon"][b]) for b in labels]]
            cells += [
                _fmt(s["coverage_80"], 2),
                _fmt(s["rul_abs_error"], 3),
                _fmt(s["rul_rel_error"], 2),
            ]
            cells.append(str(s["rul_count"]))
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"({report['seconds']} s; eol {report['eol']}; series {', '.join(report['series'])})",
    ]
    return "\n".join(lines)
