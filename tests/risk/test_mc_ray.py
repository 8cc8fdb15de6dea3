"""Monte Carlo VaR as Ray tasks on the shared test cluster: the same numbers as one process for the same seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cluster.cli import main
from jobs.risk_report import MC_RAY_THRESHOLD, monte_carlo_ray
from market.samples import load_sample_frame
from risk import var as rv


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    df = load_sample_frame("sp500-close-1d")
    px = df[["AAPL", "KO", "XOM", "JPM"]].dropna().to_numpy()
    return px[1:] / px[:-1] - 1.0


def test_blocks_cover_the_run() -> None:
    blocks = rv.mc_blocks(600_001)
    assert [b for b, _ in blocks] == [0, 1, 2] and sum(n for _, n in blocks) == 600_001
    assert all(n == rv.MC_BLOCK for _, n in blocks[:-1])


@pytest.mark.parametrize(("copula", "marginals"), [("gaussian", "gaussian"), ("t", "empirical")])
def test_ray_tasks_give_the_single_process_numbers(ray_session, returns: np.ndarray, copula: str,
                                                   marginals: str) -> None:
    w = np.array([0.4, 0.3, 0.2, 0.1])
    kw = {"n_scenarios": 3 * rv.MC_BLOCK + 17, "copula": copula, "marginals": marginals, "seed": 11}
    local = rv.monte_carlo(returns, w, 0.99, **kw)
    remote = monte_carlo_ray(returns, w, 0.99, **kw)
    assert (remote.var, remote.es) == (local.var, local.es)  # bit for bit
    other = monte_carlo_ray(returns, w, 0.99, **{**kw, "seed": 12})
    assert other.var != local.var  # the seed matters (the blocks are not all one stream)
    # the blocks are independent draws: the first block alone is the old single-block run of its size
    first = rv.monte_carlo(returns, w, 0.99, **{**kw, "n_scenarios": rv.MC_BLOCK})
    assert first.var != local.var and abs(first.var - local.var) < 0.1 * local.var


def test_cli_runs_a_large_monte_carlo_on_the_cluster(ray_session, returns: np.ndarray,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["risk", "var", "--assets", "AAPL,KO,XOM,JPM", "--weights", "AAPL=0.4,KO=0.3,XOM=0.2,JPM=0.1",
            "--method", "mc", "--scenarios", str(MC_RAY_THRESHOLD), "--seed", "5", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mc_backend"] == "ray"
    local = rv.monte_carlo(returns, np.array([0.4, 0.3, 0.2, 0.1]), 0.99, n_scenarios=MC_RAY_THRESHOLD, copula="t",
                           marginals="empirical", seed=5)
    assert out["estimates"][0]["var"] == local.var and out["estimates"][0]["es"] == local.es
