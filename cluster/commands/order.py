"""``raytrader order``: a parent order (direct, route, TWAP, iceberg) to the running deployment's router.

``raytrader order --venue binance,coinbase --symbol XRP/ETH --side buy --qty 6000 --algo route`` hands a
:class:`actors.messages.ParentIntent` to the deployment's control actor, which passes it to the ``router``
actor (:mod:`actors.router`): the parent is journaled, then its children go through the OMS (pre-trade
risk, journal, deterministic client order ids). It prints the parent as accepted and, for a route, the
split it chose and the best single venue's plan on the same books. ``--wait`` polls until the parent is
no longer working. ``raytrader order --cancel ID`` stops a working parent (its open children are
cancelled). ``--tif GTC|IOC|FOK`` sets the limit children's time in force (default: GTC; IOC for a
route with ``--limit``, so what the books do not give at once is routed again instead of resting).
A bad field exits 2 naming its flag (checked before the cluster is asked).
``raytrader orders --parents`` lists the parents.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from raytrader.cli import Output, add_command
from raytrader.config import Config
from raytrader.errors import InputError

__all__ = ["register", "OrderInputError", "format_parent", "format_parents"]


class OrderInputError(InputError):
    """A parent-order flag (named in the message) is invalid, or the deployment refused it."""


def _num(x: float | None, fmt: str = ".8g") -> str:
    return "n/a" if x is None else format(x, fmt)


def format_parent(p: dict[str, Any]) -> str:
    """One line per parent: id, algo, side qty symbol @ venues, status, filled, average and arrival price."""
    return (f"{p['parent_id']}  {p['algo']:7s} {p['side']} {p['qty']:g} {p['symbol']} on {','.join(p['venues'])}"
            f"  {p['status']}  filled {p['filled']:g}  avg {_num(p['avg_price'])}  arrival {_num(p['arrival_price'])}"
            f"  children {p['children']} ({p['open_children']} open)" + (f"  [{p['reason']}]" if p.get("reason") else ""))


def format_parents(parents: list[dict[str, Any]]) -> str:
    return "\n".join(format_parent(p) for p in parents) if parents else "no parent orders"


def _plan_lines(name: str, plan: dict[str, Any]) -> list[str]:
    parts = ", ".join(f"{c['venue']} {c['qty']:g} @ {c['avg_price']:.8g}" for c in plan["children"]) or "nothing"
    return [f"{name}: {parts}; net {_num(plan['net_price'])} per unit incl. fees; unfilled {plan['unfilled']:g}"]


def _call(config: Config, method: str, *args: object) -> Any:
    import ray  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from cluster.driver import ray_driver  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.trade_deploy import control  # noqa: PLC0415 - late: keeps the CLI and --help fast

    with ray_driver(config):
        return ray.get(getattr(control(), method).remote(*args), timeout=120)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"step": args.step}
    if args.tif is not None:
        params["time_in_force"] = args.tif.upper()
    if args.algo == "twap":
        params.update(slices=args.slices, duration_s=args.duration)
    elif args.algo == "iceberg":
        params.update(display=args.display)
    elif args.algo == "route":
        params.update(participation=args.participation)
    return params


#: a ParentIntent field -> the flag that sets it
_FLAGS = {"duration_s": "duration", "parent_id": "id", "venues": "venue", "time_in_force": "tif"}


def _order(args: argparse.Namespace, config: Config) -> Output:
    if args.cancel:
        answer = _call(config, "cancel_parent", args.cancel, "user")
        if answer["status"] == "unknown":
            raise OrderInputError(f"--cancel {args.cancel}: no such parent order")
        return Output(data=answer, text="cancelling: " + format_parent(answer["parent"]))
    missing = [f"--{n}" for n in ("venue", "symbol", "side", "qty") if getattr(args, n) is None]
    if missing:
        raise OrderInputError(f"{', '.join(missing)}: required for a new parent order")
    venues = tuple(v.strip() for v in args.venue.split(",") if v.strip())
    from actors.messages import ParentIntent  # noqa: PLC0415 - only for a new order; checked before Ray is reached

    try:  # the router checks it again; here a bad flag exits 2 without a trip to the cluster
        ParentIntent(args.id or "check", venues, args.symbol, args.side, args.qty, args.algo, args.limit,
                     **_params(args))
    except InputError as exc:
        fld = str(exc).split(" ", 1)[0].removeprefix("ParentIntent.").rstrip(":")
        raise OrderInputError(f"--{_FLAGS.get(fld, fld)}: {exc}") from None
    answer = _call(config, "submit_parent", args.id, venues, args.symbol, args.side, args.qty, args.algo,
                   args.limit, _params(args))
    if answer["status"] == "invalid":
        flag = _FLAGS.get(answer.get("field") or "", answer.get("field") or "order")
        raise OrderInputError(f"--{flag}: {answer['message']}")
    parent = answer["parent"]
    lines = [("accepted: " if answer["status"] == "accepted" else "already known (nothing sent): ")
             + format_parent(parent)]
    if answer.get("book_sources"):  # where the router's book of each venue came from (its stream or REST)
        lines.append("books: " + ", ".join(
            f"{v} {b['source']}" + (f" ({b['age_ms']:.0f} ms old)" if b["source"] == "stream" else "")
            + f", taker {b['taker_bps']:g} bps" if "source" in b else f"{v} none ({b.get('error')})"
            for v, b in answer["book_sources"].items()))
    if "plan" in answer:
        lines += _plan_lines("route", answer["plan"]) + _plan_lines("best single venue", answer["single_venue"])
        caps = answer.get("caps") or {}
        if answer["plan"].get("capped"):  # a venue's share bounded by what its free balance pays for
            lines.append("capped by free balance: " + ", ".join(f"{v} at {caps[v]:.8g} {args.symbol.split('/')[0]}"
                                                                for v in answer["plan"]["capped"] if v in caps))
        routed, single = answer["plan"]["net_price"], answer["single_venue"]["net_price"]
        if routed and single and answer["plan"]["qty"] == answer["single_venue"]["qty"]:
            better = (single - routed) / single * 1e4 * (1 if args.side == "buy" else -1)
            lines.append(f"expected saving of the split: {better:+.2f} bps of the single venue's net price")
    if args.wait:
        deadline = time.monotonic() + args.wait
        while parent.get("status") == "working" and time.monotonic() < deadline:
            time.sleep(0.5)
            parent = _call(config, "parent", parent["parent_id"]) or parent
        lines.append("now: " + format_parent(parent))
        answer["parent"] = parent
    return Output(data=answer, text="\n".join(lines))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "order", _order, "a parent order (direct, route, twap, iceberg) to the running deployment")
    p.add_argument("--venue", help="venue (comma-separated venues for --algo route)")
    p.add_argument("--symbol", help="unified symbol, e.g. XRP/ETH")
    p.add_argument("--side", choices=("buy", "sell"))
    p.add_argument("--qty", type=float, help="quantity in base units")
    p.add_argument("--algo", choices=("direct", "route", "twap", "iceberg"), default="direct",
                   help="direct (one order), route (split across venues by their books, net of fees), twap "
                        "(--slices over --duration), iceberg (--display at a time at --limit); default direct")
    p.add_argument("--limit", type=float, default=None, help="worst price per unit (required for iceberg)")
    p.add_argument("--slices", type=int, default=0, help="twap: number of children")
    p.add_argument("--duration", type=float, default=0.0, help="twap: seconds the children are spread over")
    p.add_argument("--display", type=float, default=0.0, help="iceberg: the most shown at once (base units)")
    p.add_argument("--participation", type=float, default=1.0,
                   help="route: most of a venue's visible quantity one child takes (fraction, default 1)")
    p.add_argument("--step", type=float, default=1.0, help="lot size in base units (default 1)")
    p.add_argument("--tif", default=None, metavar="GTC|IOC|FOK",
                   help="time in force of the limit children (needs --limit): GTC rests, IOC / FOK never rest (the "
                        "venue expires what did not fill at once); default GTC, and IOC for a limit route (what its "
                        "children leave is routed again on fresh books)")
    p.add_argument("--id", default=None, help="your parent id (idempotency key; default a random one)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait up to SECONDS for the parent to finish and print it again")
    p.add_argument("--cancel", metavar="PARENT_ID", default=None, help="cancel a working parent instead")
