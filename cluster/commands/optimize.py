"""``raytrader optimize``: one portfolio selection on a Qiskit simulator beside the exact optimum.

See ``jobs.optimize_portfolio`` for the flags and the JSON object.
"""

from __future__ import annotations

import argparse

from raytrader.cli import Output, add_command
from raytrader.config import Config
from cluster.commands.report import add_report_flag
from jobs.optimize_portfolio import add_optimize_arguments, plot_results, request_from_args, run_optimize_request

__all__ = ["register", "format_result"]


def format_result(r: dict) -> str:
    """Human summary of one selection (the JSON of ``jobs.optimize_portfolio``)."""
    w = r["window"]
    lines = [
        f"select {r['budget']} of {', '.join(r['assets'])}  ({w['start']}..{w['end']}, {w['days']} daily returns, "
        f"q = {r['risk_aversion']:g})",
        f"  {r['solver']:9s} {', '.join(r['selected']) or '(no feasible sample)'}   objective "
        + (f"{r['objective']:+.6g}" if r["objective"] is not None else "n/a"),
        f"  {r['exact_method']:9s} {', '.join(r['exact_selected'])}   objective {r['exact_objective']:+.6g}",
        f"  approx ratio {r['approx_ratio']:.4f}"
        + (f"   P(optimal bitstring) {r['p_optimal']:.4f}   feasible {r['feasibility_rate']:.1%}   "
           f"{r['evaluations']} circuit evaluations on {r['n_qubits']} qubits" if r["p_optimal"] is not None else ""),
        "  target weights " + ", ".join(f"{a} {v:.1%}" for a, v in r["target_weights"].items()),
        *(["  sector caps " + ", ".join(f"{k} <= {v}" for k, v in r["sector_caps"].items())
           + "; selected: " + ", ".join(f"{a} ({s})" for a, s in r["selected_sectors"].items())]
          if r.get("sector_caps") else []),
        f"  {r['seconds']:.2f} s",
    ]
    return "\n".join(lines)


def _optimize(args: argparse.Namespace, config: Config) -> Output:
    request = request_from_args(args)
    if args.plot:
        from quantum.plot import check_plot_path  # noqa: PLC0415 - late: keeps the CLI and --help fast

        check_plot_path(args.plot)
    result = run_optimize_request(request)
    if args.plot:
        from jobs.optimize_portfolio import frontier_points  # noqa: PLC0415 - late: keeps the CLI and --help fast

        result["plot"] = plot_results([request], [result], frontier_points(request, 20), args.plot)
    text = format_result(result) + (f"\n  frontier plot: {result['plot']}" if args.plot else "")
    return Output(data=result, text=text)


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "optimize", _optimize,
                         "select assets by QAOA/VQE on a Qiskit simulator, beside the exact optimum")
    add_optimize_arguments(parser)
    add_report_flag(parser, "optimize")
