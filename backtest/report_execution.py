"""The execution-quality report: tables per venue, order type, algorithm, strategy and parent order, and charts.

Input is the JSON of ``raytrader execution report --json`` (the fields of
:class:`jobs.execution_report.ExecutionReport`: ``by_venue``,
``by_order_type``, ``by_algo``, ``by_strategy``, ``total``, ``by_parent``,
``orders_detail`` and the counts left out), as the command prints it or a
paper run's record keeps it. Units as there: shortfall in bps of the arrival
notional (fees included, positive = worse than arrival), fees in the quote
currency, times in ms from the decision (the intent's journal entry).

Charts: each filled order's shortfall by venue (a box with every order as
a point), and each venue's filled quantity over time (cumulative, at each
order's last fill). Pure: no Ray, no files.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from backtest.report_page import Section, format_value

__all__ = ["execution_sections", "execution_charts", "GROUPS"]

#: the summary tables, in reading order: (JSON field, the row's key field, heading)
GROUPS: tuple[tuple[str, str, str], ...] = (("by_venue", "venue", "venue"), ("by_order_type", "order_type", "order type"),
                                            ("by_algo", "algo", "algorithm"), ("by_strategy", "strategy", "strategy"))
_COLUMNS = ("orders", "filled", "fill_ratio", "shortfall_bps", "fees", "median_ack_ms", "median_first_fill_ms",
            "median_last_fill_ms")
_HEAD = ["orders", "filled (base)", "fill ratio", "shortfall bps", "fees (quote)", "ack ms (median)",
         "1st fill ms (median)", "last fill ms (median)"]


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "shortfall_bps":
        return f"{value:+.2f}"
    if name == "fill_ratio":
        return f"{value:.3f}"
    if name.endswith("_ms"):
        return f"{value:.0f}"
    return format_value(value)


def _filled(orders: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in orders if o.get("shortfall_bps") is not None and o.get("filled")]


def execution_charts(data: dict[str, Any]) -> int:
    """How many charts :func:`execution_sections` draws for ``data`` (2 when an order filled, else 0)."""
    return 2 if _filled(data.get("orders_detail") or []) else 0


def _charts(orders: list[dict[str, Any]]) -> list[Section]:
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn

    venues = sorted({o["venue"] for o in orders})
    box = go.Figure([go.Box(y=[o["shortfall_bps"] for o in orders if o["venue"] == v], name=v, boxpoints="all",
                            jitter=0.4, pointpos=0,
                            text=[f"{o['order_id']} {o['side']} {o['order_type']} ({o['algo']})"
                                  for o in orders if o["venue"] == v]) for v in venues])
    box.update_layout(yaxis_title="implementation shortfall (bps, + = worse)", showlegend=False)
    over = go.Figure()
    for v in venues:
        mine = [o for o in orders if o["venue"] == v and o.get("decided_ms") is not None]
        at = np.array([o["decided_ms"] + (o.get("last_fill_ms") or 0) for o in mine], dtype=np.int64)
        qty = np.array([o["filled"] for o in mine], dtype=np.float64)
        order = np.argsort(at, kind="stable")
        over.add_trace(go.Scatter(x=pd.to_datetime(at[order], unit="ms", utc=True), y=np.cumsum(qty[order]),
                                  mode="lines+markers", line={"shape": "hv"}, name=v))
    over.update_layout(yaxis_title="filled (base, cumulative)", xaxis_title="time of the order's last fill (UTC)")
    return [Section("Shortfall by venue", f"{len(orders)} filled orders, each a point: what its fills cost against "
                                          "its arrival price, fees included", box),
            Section("Fills over time", "each venue's filled quantity, cumulative, at each order's last fill", over)]


def execution_sections(data: dict[str, Any]) -> list[Section]:
    """The execution report's sections (module docstring); an empty report gets one note."""
    n = int(data.get("orders") or 0)
    left = [f"{data[k]} {what}" for k, what in (("denied", "denied by risk (never sent)"),
                                                 ("rejected", "refused by the venue or proved absent"),
                                                 ("no_arrival", "without an arrival price"),
                                                 ("fees_unvalued", "with fees in a third asset (left out)"))
            if data.get(k)]
    note = f"{n} orders stood on a venue's book" + (f"; not counted: {'; '.join(left)}" if left else "")
    if not n:
        return [Section("Execution quality", note + ": nothing to measure")]
    orders = data.get("orders_detail") or []
    filled = _filled(orders)
    sections = _charts(filled) if filled else [Section("Shortfall by venue", "no order filled: no shortfall")]
    rows = [["", *_HEAD]]
    for field_name, key, heading in GROUPS:
        rows += [[f"{heading} {r[key]}", *[_cell(c, r.get(c)) for c in _COLUMNS]] for r in data.get(field_name) or []]
    if data.get("total"):
        rows.append(["total", *[_cell(c, data["total"].get(c)) for c in _COLUMNS]])
    sections.append(Section("Execution quality by venue, order type, algorithm and strategy",
                            note + "; shortfall fill-weighted, fill ratio the mean over orders, times from the "
                                   "decision", table=rows, header=True))
    parents = data.get("by_parent") or []
    if parents:
        head = ["parent", "algo", "venues", "side", "qty", "children", "arrival price", "filled", "fill ratio",
                "avg price", "shortfall bps", "fees (quote)", "ack ms", "1st fill ms", "last fill ms"]
        prow = [[p["parent_id"], p["algo"], ",".join(p["venues"]), p["side"], format_value(p["qty"]),
                 str(p["children"]), format_value(p["arrival_price"]), format_value(p["filled"]),
                 _cell("fill_ratio", p["fill_ratio"]), format_value(p["avg_price"]),
                 _cell("shortfall_bps", p["shortfall_bps"]), format_value(p["fees"]), _cell("ack_ms", p["ack_ms"]),
                 _cell("first_fill_ms", p["first_fill_ms"]), _cell("last_fill_ms", p["last_fill_ms"])]
                for p in parents]
        sections.append(Section("Parent orders", "all of a parent's children against the parent's arrival price",
                                table=[head, *prow], header=True))
    shown = orders[-200:]
    head = ["order", "strategy", "venue", "side", "type", "algo", "arrival price", "avg price", "filled",
            "fill ratio", "shortfall bps", "fees (quote)", "ack ms", "1st fill ms", "last fill ms"]
    orow = [[o["order_id"], o.get("strategy", ""), o["venue"], o["side"], o["order_type"], o["algo"],
             format_value(o.get("arrival_price")), format_value(o["avg_price"]), format_value(o["filled"]),
             _cell("fill_ratio", o["fill_ratio"]), _cell("shortfall_bps", o["shortfall_bps"]),
             format_value(o["fees"]), _cell("ack_ms", o["ack_ms"]), _cell("first_fill_ms", o["first_fill_ms"]),
             _cell("last_fill_ms", o["last_fill_ms"])] for o in shown]
    sections.append(Section("Orders", f"the last {len(shown)} of {len(orders)} orders" if len(shown) < len(orders)
                            else f"all {len(orders)} orders", table=[head, *orow], header=True))
    return sections
