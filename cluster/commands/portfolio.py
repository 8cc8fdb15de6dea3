"""``raytrader portfolio`` and ``raytrader orders [--open | --parents]``: the running trading deployment's books.

Both ask the deployment's control actor (:class:`actors.deployment.TradingControl`):
``portfolio`` prints the PortfolioActor's positions, PnL per quote currency
and per venue, and fees; ``orders`` every order the OMS knows (``--open``:
those still waiting for the venue; ``--parents``: the router's parent orders,
see ``raytrader order``). Exit 2 when no deployment runs.
"""

from __future__ import annotations

import argparse

from raytrader.cli import Output, add_command
from raytrader.config import Config

__all__ = ["register", "format_portfolio", "format_orders"]


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.8g}"


def format_portfolio(snap: dict) -> str:
    lines = []
    for quote, p in snap["pnl"].items():
        lines.append(f"PnL ({quote}): realized {_num(p['realized'])}  unrealized {_num(p['unrealized'])}  "
                     f"total {_num(p['total'])}")
    for key, p in snap["pnl_by_venue"].items():
        lines.append(f"  {key:20s} realized {_num(p['realized'])}  unrealized {_num(p['unrealized'])}  "
                     f"total {_num(p['total'])}")
    lines.append("positions:" if snap["positions"] else "positions: none")
    for p in snap["positions"]:
        mark = "n/a" if p["mark"] is None else f"{p['mark']:.8g}"
        lines.append(f"  {p['venue']:12s} {p['symbol']:10s} qty {p['qty']:g}  avg {p['avg_price']:.8g}  mark {mark}")
    fees = ", ".join(f"{k} {v:.8g}" for k, v in snap["fees"].items()) or "none"
    lines.append(f"fills {snap['fills']}; fees {fees}")
    return "\n".join(lines)


def format_orders(orders: list[dict]) -> str:
    if not orders:
        return "no orders"
    lines = [f"{'client order id':34s} {'venue':12s} {'symbol':10s} {'side':4s} {'amount':>12s} {'filled':>12s} state"]
    for o in orders:
        lines.append(f"{o['client_order_id']:34s} {o['venue']:12s} {o['symbol']:10s} {o['side']:4s} "
                     f"{o['amount']:>12g} {o['filled']:>12g} {o['state']}{'  (external)' if o['external'] else ''}")
    return "\n".join(lines)


def _call(config: Config, method: str, *args: object) -> object:
    import ray  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from cluster.driver import ray_driver  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.trade_deploy import control  # noqa: PLC0415 - late: keeps the CLI and --help fast

    with ray_driver(config):
        return ray.get(getattr(control(), method).remote(*args), timeout=120)


def _portfolio(args: argparse.Namespace, config: Config) -> Output:
    snap = _call(config, "portfolio")
    return Output(data=snap, text=format_portfolio(snap))


def _orders(args: argparse.Namespace, config: Config) -> Output:
    if args.parents:
        from cluster.commands.order import format_parents  # noqa: PLC0415 - only with --parents

        parents = _call(config, "parents", args.open)
        return Output(data={"parents": parents, "open_only": args.open}, text=format_parents(parents))
    orders = _call(config, "orders", args.open)
    return Output(data={"orders": orders, "open_only": args.open}, text=format_orders(orders))


def register(sub: argparse._SubParsersAction) -> None:
    add_command(sub, "portfolio", _portfolio, "positions, PnL and fees of the running trading deployment")
    p = add_command(sub, "orders", _orders, "orders of the running trading deployment")
    p.add_argument("--open", action="store_true", help="only orders still waiting for the venue (parents: working)")
    p.add_argument("--parents", action="store_true", help="the router's parent orders (route, twap, iceberg)")
