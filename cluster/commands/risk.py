"""``raytrader risk var | backtest | stress | regimes | switch``: risk analytics on bundled or user data (see ``jobs.risk_report``)."""

from __future__ import annotations

import argparse

from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from cluster.commands.report import add_report_flag

__all__ = ["register"]


def _pct(x: float) -> str:
    return f"{x:7.2%}"


def _money(x: float) -> str:
    return f"{x:>14,.0f}"


def _header(j: dict) -> str:
    w = ", ".join(f"{a} {v:.0%}" for a, v in zip(j["assets"], j["weights"]))
    return f"portfolio {w} on {j['source']} ({j['start']}..{j['end']}, {j['n_returns']} returns)"


def _var(args: argparse.Namespace, config: Config) -> Output:
    import contextlib  # noqa: PLC0415 - keeps `raytrader --help` fast

    from jobs.risk_report import MC_RAY_THRESHOLD, request_from_args, run_var  # noqa: PLC0415 - keeps `raytrader --help` fast

    req = request_from_args(args, vol=args.vol, copula=args.copula)
    on_ray = "mc" in req.methods and req.scenarios >= MC_RAY_THRESHOLD and _cluster_up(config)
    if on_ray:
        from cluster.driver import ray_driver  # noqa: PLC0415 - Ray loads only for a large Monte Carlo

        driver: contextlib.AbstractContextManager[None] = ray_driver(config, getattr(args, "verbose", False))
    else:
        driver = contextlib.nullcontext()
    with driver:
        rep = run_var(req).to_json()
    if "mc" in req.methods:
        rep["mc_backend"] = "ray" if on_ray else "local"
    e0 = rep["estimates"][0]
    lines = [_header(rep),
             f"  value {rep['value']:,.0f}; {e0['confidence']:.1%} confidence, horizon {e0['horizon']} bar(s); "
             "losses as positive numbers",
             f"  {'method':16s} {'VaR':>7s} {'ES':>7s} {'VaR value':>14s} {'ES value':>14s}"]
    for e in rep["estimates"]:
        lines.append(f"  {e['method']:16s} {_pct(e['var'])} {_pct(e['es'])} {_money(e['var_value'])} {_money(e['es_value'])}")
    if rep.get("mc_backend") == "ray":
        lines.append(f"  Monte Carlo: {req.scenarios:,} scenarios as Ray tasks (blocks of 250,000; same numbers as "
                     "one process)")
    cv = rep["component_var"]
    lines.append(f"  component VaR (Gaussian, Euler; sums to {cv['total']:.2%}): "
                 + ", ".join(f"{a} {v:+.2%}" for a, v in cv["by_asset"].items()))
    return Output(data=rep, text="\n".join(lines))


def _cluster_up(config: Config) -> bool:
    from cluster.lifecycle import live_state  # noqa: PLC0415 - only for a large Monte Carlo

    state, ray_ok, _ = live_state(config)
    return bool(state and state.ray and ray_ok)


def _backtest(args: argparse.Namespace, config: Config) -> Output:
    from jobs.risk_report import request_from_args, run_backtest  # noqa: PLC0415 - keeps `raytrader --help` fast

    results = run_backtest(request_from_args(args, vol=args.vol))
    data = {"results": [r.to_json() for r in results]}
    lines = [f"rolling one-bar VaR backtest, window {args.window} bars, {args.confidence:.1%} confidence",
             f"  {'method':16s} {'n':>5s} {'exceptions':>10s} {'expected':>8s} {'Kupiec p':>9s} "
             f"{'indep. p':>9s} {'cond. p':>8s}  zone"]
    for r in results:
        lines.append(f"  {r.method:16s} {r.n:5d} {r.exceptions:10d} {r.expected:8.1f} {r.kupiec.p_value:9.3f} "
                     f"{r.independence.p_value:9.3f} {r.conditional.p_value:8.3f}  {r.zone}"
                     + ("  (rejected)" if r.conditional.reject or r.kupiec.reject else ""))
    lines.append("  p < 0.05 rejects the model at 95 %; zones are the Basel traffic light scaled to n")
    return Output(data=data, text="\n".join(lines))


def _stress(args: argparse.Namespace, config: Config) -> Output:
    from jobs.risk_report import request_from_args, run_stress  # noqa: PLC0415 - keeps `raytrader --help` fast

    results = run_stress(request_from_args(args), shock=args.shock, vol_k=args.vol_k, window=args.window,
                         count=args.count)
    data = {"value": args.value, "results": [r.to_json() for r in results]}
    lines = [f"stress tests on a portfolio worth {args.value:,.0f}",
             f"  {'scenario':48s} {'P&L':>14s} {'of value':>9s}"]
    for r in results:
        lines.append(f"  {r.scenario[:48]:48s} {_money(r.pnl)} {_pct(r.pnl_fraction)}")
    return Output(data=data, text="\n".join(lines))


def _regimes(args: argparse.Namespace, config: Config) -> Output:
    from jobs.risk_report import plot_regimes, request_from_args, run_regimes  # noqa: PLC0415 - keeps `--help` fast

    if args.plot:
        from quantum.plot import check_plot_path  # noqa: PLC0415 - path checked before the fit

        check_plot_path(args.plot)
    rep = run_regimes(request_from_args(args), n_states=args.states, method=args.regime_method, train=args.train,
                      refit_every=args.refit_every)
    data = rep.to_json()
    lines = [f"{rep.asset}: {args.states} {args.regime_method.upper()} regimes on [log return, 20-bar volatility], "
             f"refitted every {args.refit_every} bars on past bars only ({data['start']}..{data['end']})"]
    for s in data["regimes"]:
        lines.append(f"  regime {s['regime']}  {s['bars']:6d} bars  mean log return {s['mean_log_return']:+.4%}  "
                     f"volatility {s['volatility']:.3%} per bar")
    lines.append(f"  current regime: {data['current_regime']}")
    if data["correlation_regime_bars"] is not None:
        lines.append(f"  correlation regime (21-bar average correlation > 252-bar + 0.2): {data['correlation_regime_bars']} bars")
    if args.plot:
        data["plot"] = str(plot_regimes(rep, args.plot))
        lines.append(f"  plot: {data['plot']}")
    return Output(data=data, text="\n".join(lines))


def _switch(args: argparse.Namespace, config: Config) -> Output:
    from jobs.risk_report import run_regime_switch  # noqa: PLC0415 - keeps `raytrader --help` fast

    rep = run_regime_switch(sample=args.sample, data=args.data, candidates=tuple(args.candidate),
                            n_states=args.states, method=args.regime_method, train=args.train,
                            refit_every=args.refit_every, fees_bps=args.fees_bps, seed=args.seed)
    lines = [f"regime switch on {rep['symbol']} {rep['timeframe']} ({rep['source']}): {rep['n_states']} "
             f"{rep['method'].upper()} regimes refitted every {rep['refit_every']} bars on past bars only; "
             f"fees {rep['fees_bps']:g} bps",
             f"  out of sample: {rep['bars']} bars {rep['start'][:10]} .. {rep['end'][:10]} (after {rep['start_bar']} "
             "training bars), each from flat",
             f"  {'strategy':44s} {'return':>12s} {'sharpe':>7s} {'max DD':>7s} {'trades':>7s} {'exposure':>9s}"]
    for r in rep["rows"]:
        lines.append(f"  {r['name'][:44]:44s} {r['total_return']:+12.2%} {r['sharpe']:7.2f} {r['max_drawdown']:7.2%} "
                     f"{r['n_trades']:7d} {r['exposure']:9.1%}")
    last = rep["refits"][-1]
    lines.append(f"  last refit {last['timestamp'][:10]}: " + ", ".join(
        f"regime {k} -> {c}" for k, c in enumerate(last["choice"])))
    return Output(data=rep, text="\n".join(lines))


def add_risk_arguments(parser: argparse.ArgumentParser) -> None:
    """The data and portfolio flags every ``raytrader risk`` command shares (read by ``jobs.risk_report.request_from_args``)."""
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--sample", default=None, help="bundled sample (default sp500-close-1d); see `raytrader data samples`")
    src.add_argument("--data", default=None, metavar="FILE", help="a close panel or a bar file (CSV/Parquet/Feather)")
    parser.add_argument("--assets", default="", help="comma-separated columns of a panel (default: those in --weights, else all)")
    parser.add_argument("--weights", default="", help="ASSET=FRACTION,... of portfolio value (default: equal weights)")
    parser.add_argument("--value", type=float, default=1_000_000.0, help="portfolio value in the quote currency")
    parser.add_argument("--start", default=None, help="first date (YYYY-MM-DD)")
    parser.add_argument("--end", default=None, help="last date (YYYY-MM-DD)")


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "risk", "risk analytics: VaR/ES, VaR backtests, stress tests, regimes")

    p = add_command(group, "var", _var, "VaR and expected shortfall of a portfolio by several methods")
    add_risk_arguments(p)
    add_report_flag(p, "risk-var")
    p.add_argument("--method", default="all", help="historical,parametric,cornish-fisher,fhs,mc or all (default)")
    p.add_argument("--confidence", type=float, default=0.99, help="VaR level (default 0.99)")
    p.add_argument("--horizon", type=int, default=1, help="horizon in bars (default 1)")
    p.add_argument("--vol", choices=("ewma", "garch"), default="ewma", help="volatility filter of fhs (default ewma)")
    p.add_argument("--copula", choices=("gaussian", "t"), default="t", help="Monte Carlo copula (default t, 5 dof)")
    p.add_argument("--scenarios", type=int, default=100_000, help="Monte Carlo scenarios (default 100,000)")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (>= 0)")

    p = add_command(group, "backtest", _backtest, "rolling VaR backtest: exceptions, Kupiec, Christoffersen, traffic light")
    add_risk_arguments(p)
    add_report_flag(p, "risk-backtest")
    p.add_argument("--method", default="historical,parametric,cornish-fisher,fhs", help="methods to test")
    p.add_argument("--confidence", type=float, default=0.99)
    p.add_argument("--window", type=int, default=500, help="estimation window in bars (default 500)")
    p.add_argument("--vol", choices=("ewma", "garch"), default="ewma")

    p = add_command(group, "stress", _stress, "worst historical windows and hypothetical shocks on a portfolio")
    add_risk_arguments(p)
    p.add_argument("--window", type=int, default=1, help="length of historical windows in bars (default 1)")
    p.add_argument("--count", type=int, default=5, help="how many worst windows (default 5)")
    p.add_argument("--shock", type=float, default=-0.2, help="uniform shock to every asset (default -0.2)")
    p.add_argument("--vol-k", type=float, default=2.0, help="volatility multiplier scenario (default 2)")
    p.add_argument("--confidence", type=float, default=0.99)

    p = add_command(group, "regimes", _regimes, "market regimes (Gaussian HMM or mixture), walk-forward, no lookahead")
    add_risk_arguments(p)
    p.add_argument("--states", type=int, default=2, help="number of regimes (default 2)")
    p.add_argument("--method", dest="regime_method", choices=("hmm", "gmm"), default="hmm")
    p.add_argument("--train", type=int, default=500, help="bars before the first label (default 500)")
    p.add_argument("--refit-every", type=int, default=250, help="refit the model every N bars (default 250)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, metavar="FILE.png", help="price coloured by regime")

    p = add_command(group, "switch", _switch,
                    "regime-switching strategy (a candidate per walk-forward regime) vs each candidate, out of sample")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sample", default=None, help="bundled bar sample (default BTC-USD-1d)")
    src.add_argument("--data", default=None, metavar="FILE", help="a bar file (CSV/Parquet/Feather)")
    p.add_argument("--candidate", action="append", default=[], metavar="NAME[:K=V,...]",
                   help="a candidate strategy (repeat); default sma_cross:fast=10,slow=50, donchian_breakout:short=0, "
                        "bollinger_reversion:short=0; 'flat' is always a candidate")
    p.add_argument("--states", type=int, default=2, help="number of regimes (default 2)")
    p.add_argument("--method", dest="regime_method", choices=("hmm", "gmm"), default="hmm")
    p.add_argument("--train", type=int, default=750, help="bars before the first refit (default 750)")
    p.add_argument("--refit-every", type=int, default=500, help="refit the regimes every N bars (default 500)")
    p.add_argument("--fees-bps", type=float, default=10.0, help="fee per side, bps (default 10)")
    p.add_argument("--seed", type=int, default=0)
