"""`raytrader backtest` takes the config's [research] defaults; a flag on the command line always wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_research_section_fills_what_the_user_did_not_give(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "raytrader.toml"
    cfg.write_text('[research]\nstrategy = "ema_cross"\nparams = "fast=8,slow=40"\nfees_bps = 25\ncash = 5000\n')
    got = _run(capsys, "--config", str(cfg), "backtest", "--sample", "ETH-BTC-5m", "--json")
    assert (got["strategy"], got["params"]["fast"], got["params"]["slow"], got["fees_bps"]) == ("ema_cross", 8, 40, 25.0)
    given = _run(capsys, "--config", str(cfg), "backtest", "--sample", "ETH-BTC-5m", "--strategy", "sma_cross",
                 "-p", "fast=10", "-p", "slow=30", "--fees-bps", "10", "--json")
    assert (given["strategy"], given["params"], given["fees_bps"]) == ("sma_cross", {"fast": 10, "slow": 30}, 10.0)
    plain = _run(capsys, "backtest", "--sample", "ETH-BTC-5m", "--json")  # no [research]: the built-in defaults
    assert (plain["strategy"], plain["fees_bps"], plain["fill"]) == ("sma_cross", 10.0, "open")
