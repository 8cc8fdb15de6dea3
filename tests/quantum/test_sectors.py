"""Sector caps (``--sector-caps``) and the frontier plot (``--plot``), through the pure helpers and the real CLI."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import cluster.cli as cli
from quantum.errors import ProblemOptionError
from quantum.returns import estimate_returns, load_panel
from quantum.sectors import BUNDLED_SECTORS, parse_sector_caps, parse_sectors, sectors_for

ASSETS = ("AAPL", "MSFT", "AMD", "JPM", "BAC", "XOM", "CVX", "KO")


def test_bundled_sectors_cover_the_panel() -> None:
    columns = [c for c in load_panel().columns if c != "timestamp"]
    assert sorted(BUNDLED_SECTORS) == sorted(columns)


@pytest.mark.parametrize("text,field", [("energy", "sector-caps"), ("energy=x", "sector-caps"),
                                        ("energy=-1", "sector-caps"), ("energy=1,energy=2", "sector-caps"),
                                        (",", "sector-caps")])
def test_bad_caps_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ProblemOptionError) as info:
        parse_sector_caps(text)
    assert info.value.field == field


def test_parse_and_resolve() -> None:
    assert parse_sector_caps("Energy=1, health-care=2") == {"energy": 1, "health-care": 2}
    assert parse_sectors("AAPL=Tech,XOM=oil") == {"AAPL": "tech", "XOM": "oil"}
    labels = sectors_for(("AAPL", "XOM"), {"XOM": "oil"}, {"oil": 1})
    assert labels == {"AAPL": "information-technology", "XOM": "oil"}
    with pytest.raises(ProblemOptionError, match="no asset is in sector tech"):
        sectors_for(("AAPL",), None, {"tech": 1})
    with pytest.raises(ProblemOptionError, match="no sector for ZZZ"):
        sectors_for(("ZZZ",), None, {"energy": 1})
    with pytest.raises(ProblemOptionError, match="not among the selected assets"):
        sectors_for(("AAPL",), {"XOM": "energy"}, {"energy": 1})


def _brute_force(assets: tuple[str, ...], budget: int, q: float, caps: dict[str, int]) -> tuple[set[str], float]:
    """Independent reference: every C(n, B) subset, objective q·xᵀΣx − μᵀx, caps filtered by hand."""
    est = estimate_returns(load_panel(), assets, "2020-01-01", "2022-12-28")
    best: tuple[set[str], float] | None = None
    for combo in itertools.combinations(range(len(assets)), budget):
        counts: dict[str, int] = {}
        for i in combo:
            counts[BUNDLED_SECTORS[assets[i]]] = counts.get(BUNDLED_SECTORS[assets[i]], 0) + 1
        if any(counts.get(s, 0) > k for s, k in caps.items()):
            continue
        x = np.zeros(len(assets))
        x[list(combo)] = 1.0
        value = float(q * x @ est.sigma @ x - est.mu @ x)
        if best is None or value < best[1]:
            best = ({assets[i] for i in combo}, value)
    assert best is not None
    return best


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["optimize", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("solver", ["exact", "milp"])
def test_caps_change_the_optimum_as_brute_force_says(capsys, solver: str) -> None:
    caps = {"information-technology": 1, "energy": 1}
    free, _ = _brute_force(ASSETS, 4, 0.5, {})
    capped, capped_value = _brute_force(ASSETS, 4, 0.5, caps)
    assert free != capped, "the caps must bind on this instance for the test to mean anything"
    code, out, err = _run(capsys, "--assets", ",".join(ASSETS), "--budget", "4", "--solver", solver,
                          "--sector-caps", "information-technology=1,energy=1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data["selected"]) == capped
    assert data["objective"] == pytest.approx(capped_value, rel=1e-9)
    assert data["sector_caps"] == caps
    assert sum(s == "energy" for s in data["selected_sectors"].values()) <= 1


def test_quantum_solver_respects_caps(capsys) -> None:
    assets = ("AAPL", "MSFT", "JPM", "XOM", "CVX", "KO")
    capped, _ = _brute_force(assets, 3, 0.5, {"energy": 1, "information-technology": 1})
    code, out, err = _run(capsys, "--assets", ",".join(assets), "--budget", "3", "--solver", "cvar-vqe",
                          "--sector-caps", "energy=1,information-technology=1", "--seed", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data["selected"]) == capped and data["approx_ratio"] == 1.0


def test_plot_is_a_png_and_bad_paths_exit_2(capsys, tmp_path) -> None:
    target = tmp_path / "frontier.png"
    code, out, err = _run(capsys, "--assets", "AAPL,MSFT,JPM,XOM", "--budget", "2", "--solver", "exact",
                          "--plot", str(target), "--json")
    assert code == 0, err
    assert json.loads(out)["plot"] == str(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000
    for bad in (str(tmp_path / "missing" / "x.png"), str(tmp_path / "x.svg")):
        code, out, err = _run(capsys, "--budget", "2", "--solver", "exact", "--plot", bad)
        assert code == 2 and out == "" and "plot:" in err


def test_bad_sector_input_exits_2(capsys) -> None:
    for argv in (["--sector-caps", "tech=1"], ["--sector-caps", "energy=one"], ["--sectors", "AAPL=tech"]):
        code, out, err = _run(capsys, "--budget", "2", "--solver", "exact", *argv)
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and ("sector" in err), err
