"""Routed vs single-venue cost: 1,000+ parent orders on two emulated venues replaying the bundled data.

Two venues replay the same bundled XRP/ETH minute bars and real trades
(``XRP-ETH-1m`` + ``XRP-ETH-trades``) through the emulator's venue core, each
with its own synthetic book and fees: venue ``a`` at the replayed prices,
taker 10 bps; venue ``b`` dislocated by ``--offset-bps`` (default -12: its
prices 12 bps lower, more than its extra 10 bps of fee: better for buys, worse for sells) with a taker fee of 20 bps, and a thinner book. At every
sampled minute one parent order (alternating buy and sell, size drawn
seeded between 1x and 8x the best level) is costed three ways from the
books the venues show at that moment: the router's split
(:func:`actors.routing.route`), the best single venue, and each venue alone.
Cost is in bps of the arrival mid of venue ``a``, fees included, positive =
paid; the saving is single - routed.

This measures the router's decisions against the visible books (no market
impact beyond walking the book, no latency); what the venues then fill is
the paper session's job.

Reproduce: ``.venv/bin/python -m benchmarks.routing`` (writes its RESULTS.md section).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import replace
from decimal import Decimal

from actors.routing import ParentOrder, VenueBook, best_single_venue, route
from benchmarks._results import machine_line, write_section
from market.emulator import ApiKey, MarketSpec, Venue
from market.emulator.instruments import instrument_for
from market.emulator.matching import FeeSchedule
from market.emulator.replay import DepthProfile, ReplayConfig
from market.emulator.venue import VenueConfig
from market.samples import load_sample, load_sample_frame

__all__ = ["main"]


def _venue(offset_bps: float, taker_bps: float, depth: DepthProfile) -> Venue:
    bars, trades = load_sample("XRP-ETH-1m"), load_sample_frame("XRP-ETH-trades")
    config = VenueConfig(fees=FeeSchedule(Decimal(str(taker_bps)), Decimal(str(taker_bps))),
                         replay=ReplayConfig(depth=depth, price_offset_bps=Decimal(str(offset_bps))))
    return Venue([MarketSpec(instrument_for(bars), bars, trades)], keys=[ApiKey("k", "s", "u")], config=config)


def _book(venue: Venue, name: str, side: str, taker_bps: float) -> VenueBook:
    symbol = next(iter(venue.markets))
    inst = venue.engine.instrument(symbol)
    bids, asks = venue.engine.depth(symbol, 50)
    levels = asks if side == "buy" else bids
    return VenueBook(name, tuple((float(p), float(q)) for p, q in levels), taker_bps=taker_bps,
                     step=float(inst.step_size), min_qty=float(inst.min_qty), min_notional=float(inst.min_notional))


def _cost_bps(side: str, net_price: float, mid: float) -> float:
    return (net_price - mid) / mid * 1e4 if side == "buy" else (mid - net_price) / mid * 1e4


def run(parents: int, offset_bps: float, seed: int) -> dict:
    a_fee, b_fee = 10.0, 20.0
    depth_a = DepthProfile()
    depth_b = replace(DepthProfile(), level_qty=Decimal("1200"))
    va, vb = _venue(0.0, a_fee, depth_a), _venue(offset_bps, b_fee, depth_b)
    rng = random.Random(seed)
    start, end = va.start_ms + 30 * 60_000, va.end_ms - 60_000
    step = max(60_000, (end - start) // parents // 60_000 * 60_000)
    rows, routed_s = [], 0.0
    t = start
    while len(rows) < parents and t < end:
        va.advance_to(t)
        vb.advance_to(t)
        side = "buy" if len(rows) % 2 == 0 else "sell"
        books = [_book(va, "a", side, a_fee), _book(vb, "b", side, b_fee)]
        top = books[0].levels[0][1]
        parent = ParentOrder(side, round(top * rng.uniform(1.0, 8.0)))
        bids, asks = va.engine.depth(next(iter(va.markets)), 1)
        mid = (float(bids[0][0]) + float(asks[0][0])) / 2
        t0 = time.perf_counter()
        plan = route(books, parent)
        routed_s += time.perf_counter() - t0
        single = best_single_venue(books, parent)
        alone = {b.venue: best_single_venue([b], parent) for b in books}
        if plan.qty == parent.qty == single.qty and all(p.qty == parent.qty for p in alone.values()):
            rows.append({"routed": _cost_bps(side, plan.net_price, mid), "single": _cost_bps(side, single.net_price, mid),
                         "a": _cost_bps(side, alone["a"].net_price, mid), "b": _cost_bps(side, alone["b"].net_price, mid),
                         "split": len(plan.children) > 1})
        t += step
    return {"rows": rows, "route_us": routed_s / max(1, len(rows)) * 1e6, "offset_bps": offset_bps}


def _table(result: dict) -> str:
    rows = result["rows"]
    med = {k: statistics.median(r[k] for r in rows) for k in ("routed", "single", "a", "b")}
    mean = {k: statistics.fmean(r[k] for r in rows) for k in ("routed", "single", "a", "b")}
    saving = [r["single"] - r["routed"] for r in rows]
    split = sum(r["split"] for r in rows)
    lines = [
        "## Smart order routing: routed vs single-venue cost",
        "",
        f"{machine_line()}, 1-minute load average {os.getloadavg()[0]:.1f}. {len(rows)} parent orders "
        "(alternating buy/sell, 1x-8x the best level of venue a) on two "
        f"emulated venues replaying the bundled XRP/ETH minute bars and trades: venue a at the replayed prices, "
        f"taker 10 bps, 2,000 XRP at the best level; venue b {result['offset_bps']:+g} bps, taker 20 bps, 1,200 XRP "
        "at the best level. Cost in bps of venue a's mid, fees included (positive = paid).",
        "",
        "| execution | median cost, bps | mean cost, bps |",
        "|---|---:|---:|",
        f"| routed (split across venues) | {med['routed']:.2f} | {mean['routed']:.2f} |",
        f"| best single venue (chosen per order) | {med['single']:.2f} | {mean['single']:.2f} |",
        f"| always venue a | {med['a']:.2f} | {mean['a']:.2f} |",
        f"| always venue b | {med['b']:.2f} | {mean['b']:.2f} |",
        "",
        f"Saving of routing over the best single venue: median {statistics.median(saving):.2f} bps, mean "
        f"{statistics.fmean(saving):.2f} bps, max {max(saving):.2f} bps; never negative: {min(saving) >= -1e-9}. "
        f"The router split {split} of {len(rows)} parents ({split / len(rows):.0%}); a routing decision took "
        f"{result['route_us']:.0f} us on average (pure Python, two books of 10 levels).",
        "",
        "Reproduce: `.venv/bin/python -m benchmarks.routing`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=1000)
    parser.add_argument("--offset-bps", type=float, default=-12.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only; RESULTS.md untouched")
    args = parser.parse_args(argv)
    text = _table(run(args.parents, args.offset_bps, args.seed))
    print(text)
    if not args.no_write:
        write_section("routing", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
