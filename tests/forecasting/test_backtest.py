"""The back-test: its report, its scoring, and the command line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from forecasting.engine import backtest
from forecasting.engine import report as report_mod
from forecasting.engine.rul import EolRule
from tests.forecasting.helpers import knee_series


@pytest.fixture(scope="module")
def report() -> dict:
    df = knee_series(n=5, days=400, seed=3)
    config = replace(
        backtest.backtest_config(400, 5, target_rows=4000),
        num_boost_round=60,
        calibration_origins=(0.5,),
        num_threads=1,
    )
    return backtest.run_backtest(df, EolRule.parse("rel>=1.2"), [150, 200], config)


def test_report_has_the_required_keys(report):
    assert set(report["models"]) == {"lightgbm", "linear", "exponential"}
    for name, m in report["models"].items():
        assert {
            "rul_abs_error",
            "rul_rel_error",
            "coverage_80",
            "mae_by_horizon",
            "by_origin",
        } <= set(m)
        assert set(m["by_origin"]) == {"150", "200"}
        assert (m["coverage_80"] is None) == (name != "lightgbm")
    json.dumps(report)


def test_lightgbm_beats_the_trend_fits_on_a_knee(report):
    lgb = report["models"]["lightgbm"]
    for name in ("linear", "exponential"):
        assert lgb["rul_rel_error"] < report["models"][name]["rul_rel_error"]
    assert lgb["mae_by_horizon"]["61-120"] < report["models"]["linear"]["mae_by_horizon"]["61-120"]


def test_relative_error_is_capped_and_no_crossing_scores_one():
    rec = report_mod.rul_record("s", 10, true=20.0, pred=float("nan"), horizon=100)
    assert rec["rel_error"] == 1.0 and rec["abs_error"] == 80
    assert report_mod.rul_record("s", 10, true=20.0, pred=90.0, horizon=100)["rel_error"] == 1.0


def test_default_origins_follow_the_data_length():
    import numpy as np

    assert backtest.default_origins(np.array([882, 936, 972, 996])) == [200, 300, 400, 500, 600]
    assert backtest.default_origins(np.array([168, 168, 168, 132])) == [40, 60, 80, 100]


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "cells.csv"
    knee_series(n=3, days=60).rename(columns={"series_id": "cell", "day": "cycle"}).to_csv(
        path, index=False
    )
    return str(path)


def test_cli_rejects_a_bad_eol_rule(csv, capsys):
    args = ["--csv", csv, "--series", "cell", "--time", "cycle", "--target", "value"]
    with pytest.raises(SystemExit) as exc:
        backtest.main([*args, "--eol", "rel>1.2"])
    assert exc.value.code == 2
    assert "--eol: invalid end-of-life rule" in capsys.readouterr().err


def test_cli_rejects_a_missing_column(csv, capsys):
    with pytest.raises(SystemExit):
        backtest.main(["--csv", csv, "--series", "cell", "--time", "cycle", "--target", "dcr"])
    assert "--target: column 'dcr' not in" in capsys.readouterr().err


def test_management_command_names_the_argument(csv):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--series: column 'battery'"):
        call_command("forecast_backtest", csv=csv, series="battery", time="cycle", target="value")
