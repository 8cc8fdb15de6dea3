"""`raytrader risk ...` through the real command line: JSON shape, numbers equal to the library's, exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cluster.cli import main
from market.samples import load_sample_frame
from risk import var as rv


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else {}), err


def test_var_json_equals_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    code, j, _ = _run(capsys, "risk", "var", "--assets", "AAPL,KO", "--weights", "AAPL=0.6,KO=0.4",
                      "--start", "2012-01-01", "--method", "historical,parametric", "--confidence", "0.975", "--json")
    assert code == 0
    df = load_sample_frame("sp500-close-1d")
    df = df[df["timestamp"] >= "2012-01-01"]
    px = df[["AAPL", "KO"]].to_numpy()
    rp = (px[1:] / px[:-1] - 1) @ np.array([0.6, 0.4])
    hist, par = j["estimates"]
    assert hist["var"] == pytest.approx(rv.historical(rp, 0.975).var)
    assert par["es"] == pytest.approx(rv.gaussian(rp, 0.975).es)
    assert hist["var_value"] == pytest.approx(hist["var"] * 1_000_000)
    assert sum(j["component_var"]["by_asset"].values()) == pytest.approx(par["var"])


def test_var_on_a_user_bar_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    btc = load_sample_frame("BTC-USD-1d")
    path = tmp_path / "btc.csv"
    btc.to_csv(path, index=False)
    code, j, _ = _run(capsys, "risk", "var", "--data", str(path), "--method", "historical", "--json")
    assert code == 0 and j["assets"] == ["btc"]
    r = btc["close"].to_numpy()
    assert j["estimates"][0]["var"] == pytest.approx(rv.historical(r[1:] / r[:-1] - 1, 0.99).var)


def test_backtest_stress_and_regimes_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, j, _ = _run(capsys, "risk", "backtest", "--sample", "BTC-USD-1d", "--start", "2021-01-01", "--window", "500",
                      "--json")
    assert code == 0 and {r["method"] for r in j["results"]} == {"historical", "parametric", "cornish-fisher", "fhs"}
    btc = load_sample_frame("BTC-USD-1d")
    for r in j["results"]:
        assert r["n"] == int((btc["timestamp"] >= "2021-01-01").sum()) - 1 - 500
    code, j, _ = _run(capsys, "risk", "stress", "--sample", "BTC-USD-1d", "--value", "10000", "--json")
    assert code == 0 and any(r["end"].startswith("2020-03-12") for r in j["results"])
    plot = tmp_path / "regimes.png"
    code, j, _ = _run(capsys, "risk", "regimes", "--sample", "BTC-USD-1d", "--refit-every", "1000", "--plot", str(plot),
                      "--json")
    assert code == 0 and plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
    vols = [r["volatility"] for r in j["regimes"]]
    assert vols == sorted(vols)


@pytest.mark.parametrize("argv, field", [
    (["risk", "var", "--confidence", "1.5"], "--confidence"),
    (["risk", "var", "--assets", "NOPE"], "--assets"),
    (["risk", "var", "--weights", "AAPL=x"], "--weights"),
    (["risk", "var", "--weights", "AAPL=0.5,AAPL=0.5"], "given twice"),
    (["risk", "var", "--method", "magic"], "--method"),
    (["risk", "var", "--seed", "-1"], "--seed"),
    (["risk", "var", "--start", "2030-01-01"], "--start"),
    (["risk", "backtest", "--sample", "BTC-USD-1d", "--window", "10"], "--window"),
    (["risk", "regimes", "--plot", "/nonexistent/dir/x.png"], "plot"),
])
def test_bad_input_exits_2_naming_the_flag(argv: list[str], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2 and field in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_switch_prints_the_out_of_sample_table(capsys: pytest.CaptureFixture[str]) -> None:
    from backtest.engine import run_backtest
    from backtest.metrics import summary
    from market.samples import load_sample
    from strategies.registry import get_strategy

    code, j, _ = _run(capsys, "risk", "switch", "--sample", "BTC-USD-1d", "--method", "gmm", "--train", "400",
                      "--refit-every", "1500", "--candidate", "sma_cross:fast=10,slow=50", "--json")
    assert code == 0 and [r["name"] for r in j["rows"]] == ["regime_switch", "sma_cross(fast=10,slow=50)", "flat"]
    bars = load_sample("BTC-USD-1d")
    start = j["start_bar"]
    assert start == 420 and j["bars"] == len(bars) - start and len(j["refits"]) == 4
    oos = bars.take(slice(start, None))
    ref = summary(run_backtest(oos, get_strategy("sma_cross").run(bars, {"fast": 10, "slow": 50})[start:], fees_bps=10),
                  oos.timeframe_ms, periods_per_year=j["periods_per_year"])
    assert j["rows"][1]["total_return"] == ref["total_return"] and j["rows"][2]["total_return"] == 0.0


@pytest.mark.parametrize(("argv", "reason"), [(["--candidate", "nope"], "unknown strategy"),
                                              (["--candidate", "sma_cross:fast"], "expected NAME"),
                                              (["--candidate", "xs_momentum"], "multi-asset"),
                                              (["--states", "1"], "states"), (["--fees-bps", "-1"], "fees")])
def test_switch_bad_input_exits_2(argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "risk", "switch", *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and reason in err
