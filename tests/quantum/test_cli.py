"""``raytrader optimize`` through the real CLI entry point, and the job's Ray fan-out on the test cluster."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import cluster.cli as cli
from jobs.demo_parts import demo_selection
from jobs.optimize_portfolio import OptimizeRequest, main, optimize_many
from jobs.optimize_portfolio import run_optimize_request as run_optimize_request_


@pytest.fixture()
def run_cli(capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["optimize", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_optimize_json_contract(run_cli) -> None:
    code, out, err = run_cli("--assets", "AAPL,MSFT,JPM,XOM,KO", "--start", "2020-01-01", "--end", "2022-12-28",
                             "--budget", "2", "--risk-aversion", "0.5", "--solver", "xy-qaoa", "--maxiter", "40",
                             "--json")
    assert code == 0, err
    data = json.loads(out)
    for key in ("assets", "selected", "objective", "exact_objective", "approx_ratio", "p_optimal", "seconds"):
        assert key in data
    assert data["assets"] == ["AAPL", "MSFT", "JPM", "XOM", "KO"]
    assert len(data["selected"]) == 2 and data["selected"] == data["exact_selected"]
    assert data["approx_ratio"] == 1.0 and data["objective"] == pytest.approx(data["exact_objective"])
    assert 0 < data["p_optimal"] <= 1
    assert data["target_weights"] == {a: 0.5 for a in data["selected"]}
    assert out.count("\n") == 1


def _brute_force(panel, assets, budget, q, start="2020-01-01", end="2022-12-28"):
    """min over every ``budget``-subset of q·xᵀΣx − μᵀx, by a plain loop (no solver code): (objective, names)."""
    from quantum.returns import estimate_returns

    est = estimate_returns(panel, list(assets), start, end)
    best = None
    for combo in itertools.combinations(range(len(assets)), budget):
        x = np.zeros(len(assets))
        x[list(combo)] = 1.0
        value = float(q * x @ est.sigma @ x - est.mu @ x)
        if best is None or value < best[0]:
            best = (value, [assets[i] for i in combo])
    return best


@pytest.mark.parametrize("solver", ["exact", "milp"])
def test_classical_solvers_agree_with_an_independent_brute_force(run_cli, panel, solver) -> None:
    assets = ["AAPL", "MSFT", "JPM", "XOM", "KO", "PG", "JNJ"]
    code, out, _ = run_cli("--assets", ",".join(assets), "--budget", "3", "--solver", solver, "--json")
    data = json.loads(out)
    assert code == 0 and data["p_optimal"] is None and data["solver"] == solver
    want, chosen = _brute_force(panel, assets, 3, 0.5)
    # each solver's own answer, and the reference beside it, both equal the plain loop's optimum
    assert data["objective"] == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert data["selected"] == chosen
    assert data["exact_method"] == "exact" and data["exact_objective"] == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert data["approx_ratio"] == pytest.approx(1.0)


def test_a_reported_objective_is_the_solvers_own(panel) -> None:
    """A selection off the optimum is reported with its own objective, not the reference's (QAOA, tiny budget)."""
    assets = ("AAPL", "MSFT", "JPM", "XOM", "KO", "PG")
    r = run_optimize_request_(OptimizeRequest(assets=assets, budget=3, solver="qaoa", maxiter=4, reps=1, seed=3))
    from quantum.returns import estimate_returns

    est = estimate_returns(panel, list(assets), "2020-01-01", "2022-12-28")
    x = np.array([1.0 if a in r["selected"] else 0.0 for a in assets])
    if r["objective"] is not None:
        assert r["objective"] == pytest.approx(float(0.5 * x @ est.sigma @ x - est.mu @ x), rel=1e-9, abs=1e-15)
    assert r["exact_objective"] == pytest.approx(_brute_force(panel, list(assets), 3, 0.5)[0], rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("argv,flag", [(("--seed", "-1"), "--seed"), (("--reps", "11"), "--reps"),
                                       (("--reps", "1000"), "--reps"), (("--shots", "0"), "--shots")])
def test_variational_flags_are_bounded(run_cli, argv, flag) -> None:
    with pytest.raises(SystemExit) as info:
        run_cli("--solver", "qaoa", *argv)
    assert info.value.code == 2


def test_bounds_hold_from_python_too() -> None:
    from quantum.errors import SolverOptionError

    with pytest.raises(SolverOptionError, match="seed"):
        run_optimize_request_(OptimizeRequest(assets=("AAPL", "MSFT"), budget=1, solver="qaoa", seed=-1))
    with pytest.raises(SolverOptionError, match="reps"):
        run_optimize_request_(OptimizeRequest(assets=("AAPL", "MSFT"), budget=1, solver="qaoa", reps=1000))


def test_text_output(run_cli) -> None:
    code, out, _ = run_cli("--assets", "AAPL,MSFT,JPM", "--budget", "1", "--solver", "exact")
    assert code == 0
    assert "select 1 of AAPL, MSFT, JPM" in out and "target weights" in out


@pytest.mark.parametrize("argv,message", [
    (("--assets", "AAPL,MSFT", "--budget", "3"), "budget: budget 3 exceeds the 2 assets offered"),
    (("--assets", "AAPL,NOPE", "--budget", "1"), "assets: unknown asset 'NOPE'"),
    (("--assets", "AAPL,MSFT", "--start", "2022-12-01", "--budget", "1"), "window: 2022-12-01..2022-12-28 holds 18"),
    (("--assets", ",".join(["AAPL", "MSFT", "JPM", "XOM", "KO", "PG", "JNJ", "WMT", "HD", "GE", "BAC", "PFE",
                            "MRK", "PEP", "LLY", "UNH", "CVX", "AMD", "BBY", "RRC"]),
      "--start", "2022-11-01", "--end", "2022-11-30", "--budget", "2"), "covariance: the sample covariance"),
    (("--assets", "AAPL,MSFT", "--budget", "1", "--data", "/nonexistent/panel.parquet"), "no such file"),
])
def test_bad_input_exits_2_with_one_line(run_cli, argv, message) -> None:
    code, out, err = run_cli(*argv, "--solver", "exact")
    assert code == 2
    assert out == ""
    assert message in err and err.count("\n") == 1


def test_singular_covariance_from_a_file(run_cli, tmp_path, panel) -> None:
    frame = panel[["timestamp", "AAPL", "MSFT"]].copy()
    frame["TWIN"] = frame["MSFT"] * 3.0
    path = tmp_path / "panel.parquet"
    frame.to_parquet(path)
    code, _, err = run_cli("--data", str(path), "--assets", "AAPL,MSFT,TWIN", "--budget", "2", "--solver", "exact")
    assert code == 2 and "not positive definite" in err
    code, out, _ = run_cli("--data", str(path), "--assets", "AAPL,MSFT,TWIN", "--budget", "2", "--solver", "exact",
                           "--shrinkage", "0.05", "--json")
    assert code == 0 and len(json.loads(out)["selected"]) == 2


def test_demo_selection_shows_qaoa_beside_exact() -> None:
    d = demo_selection(solvers=("qaoa",))
    assert [r["solver"] for r in d["runs"]] == ["qaoa"]
    assert d["runs"][0]["objective"] >= d["exact_objective"] - 1e-15
    assert len(d["exact_selected"]) == d["budget"] == 4
    assert "exact" in d["text"] and "qaoa" in d["text"]


def test_instances_solve_in_parallel_as_ray_tasks(ray_session) -> None:
    base = dict(assets=("AAPL", "MSFT", "JPM", "XOM", "KO"), budget=2, maxiter=20)
    requests = [OptimizeRequest(**base, start=s, end=e, risk_aversion=q, solver=solver)
                for (s, e), q, solver in [(("2016-01-01", "2018-12-31"), 0.5, "exact"),
                                          (("2019-01-01", "2022-12-28"), 2.0, "milp"),
                                          (("2019-01-01", "2022-12-28"), 0.5, "xy-qaoa")]]
    results = optimize_many(requests)
    assert [r["window"]["start"] for r in results] == ["2016-01-04", "2019-01-02", "2019-01-02"]
    assert [r["risk_aversion"] for r in results] == [0.5, 2.0, 0.5]
    assert results[2]["approx_ratio"] == 1.0 and results[2]["p_optimal"] > 0
    for r in results:
        assert sum(r["target_weights"].values()) == pytest.approx(1.0)
    from raytrader.errors import InputError

    with pytest.raises(InputError, match="unknown asset"):
        optimize_many([OptimizeRequest(assets=("AAPL", "ZZZ"), budget=1, solver="exact")])


def test_job_entrypoint_fans_out_windows_and_risk_aversions(ray_session, capsys, tmp_path) -> None:
    plot = tmp_path / "frontier.png"
    code = main(["--assets", "AAPL,MSFT,JPM,XOM,KO,PG", "--budget", "3", "--solver", "exact",
                 "--windows", "2015-01-01:2017-12-31,2018-01-01:2020-12-31", "--risk-aversions", "0.5,5",
                 "--frontier-points", "4", "--plot", str(plot), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["instances"] == 4
    assert out["plot"] == str(plot) and plot.read_bytes()[:4] == b"\x89PNG"
    assert [(r["window"]["start"][:4], r["risk_aversion"]) for r in out["results"]] == [
        ("2015", 0.5), ("2015", 5.0), ("2018", 0.5), ("2018", 5.0)]
    assert len(out["frontier"]) == 4 and out["frontier"][0]["volatility"] <= out["frontier"][-1]["volatility"]
    assert out["target_weights"] == out["results"][0]["target_weights"]
    assert main(["--assets", "AAPL,MSFT", "--budget", "5", "--solver", "exact"]) == 2
    assert "budget" in capsys.readouterr().err
