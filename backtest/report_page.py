"""The page around every report: one self-contained HTML file with plotly.js inlined (no CDN, no network).

A report is a title, a subtitle and a list of :class:`Section` (a heading,
a note, and a plotly figure and/or a two-column table). :func:`render_page`
writes plotly.js once in the page head (about 4.8 MB), then each figure as
a ``<div>`` and its JSON; the file opens offline in any browser.

Pure: no Ray, no files, no clock (the caller passes any time it wants shown).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

__all__ = ["Section", "render_page", "format_value", "table_rows", "decimate", "CHART_CLASS"]

#: the CSS class of every chart's box (the browser test measures the pixels inside these)
CHART_CLASS = "rt-chart"

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #222;
       background: #ffffff; }
h1 { font-size: 22px; margin: 0 0 4px 0; } h2 { font-size: 17px; margin: 28px 0 4px 0; }
.sub { color: #555; margin: 0 0 12px 0; } .note { color: #555; font-size: 13px; margin: 2px 0 6px 0; }
table.rt { border-collapse: collapse; font-size: 13px; } table.rt td, table.rt th { border: 1px solid #ddd;
  padding: 3px 10px; text-align: left; } table.rt td.num { text-align: right; font-variant-numeric: tabular-nums; }
.rt-chart { width: 100%; max-width: 1100px; height: 420px; }
"""


@dataclass(frozen=True)
class Section:
    """One part of a report. ``figure`` is a ``plotly.graph_objects.Figure`` (or None); ``table`` rows of
    cells (the first row is the header when ``header`` is true)."""

    title: str
    note: str = ""
    figure: Any = None
    table: Sequence[Sequence[str]] = field(default_factory=tuple)
    header: bool = False


def format_value(value: Any) -> str:
    """A number or text for a table cell: fractions stay as given (the caller names units), floats to 6
    significant digits, None as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def table_rows(data: dict[str, Any], keys: Sequence[str] | None = None) -> list[list[str]]:
    """``[name, value]`` rows of the scalar entries of ``data`` (all of them, or ``keys`` in that order)."""
    names = list(keys) if keys is not None else [k for k, v in data.items() if not isinstance(v, (dict, list))]
    return [[k, format_value(data[k])] for k in names if k in data]


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = 4000, *, how: str = "last") -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` points of a long series, for drawing: the series cut into equal buckets,
    each shown by its last point (``how="last"``) or its lowest (``how="min"``, so a drawdown's depth is
    never hidden). Short series come back unchanged."""
    x, y = np.asarray(x), np.asarray(y)
    n = y.shape[0]
    if n <= max_points:
        return x, y
    step = int(np.ceil(n / max_points))
    starts = np.arange(0, n, step)
    ends = np.minimum(starts + step, n) - 1
    if how == "min":
        return x[ends], np.minimum.reduceat(y, starts)
    return x[ends], y[ends]


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # noqa: PLC0415 - 4.8 MB string, read when the first report is drawn

    return get_plotlyjs()


def _figure_html(fig: Any, div_id: str) -> str:
    import plotly.io as pio  # noqa: PLC0415 - plotly loads when a report is drawn, not when backtest is imported

    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 40, "b": 40})
    inner = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id,
                        config={"displaylogo": False, "responsive": True}, default_height="420px")
    return f'<div class="{CHART_CLASS}">{inner}</div>'


def _table_html(rows: Sequence[Sequence[str]], header: bool) -> str:
    out = ['<table class="rt">']
    for i, row in enumerate(rows):
        tag = "th" if header and i == 0 else "td"
        cells = []
        for cell in row:
            text = html.escape(str(cell))
            num = tag == "td" and _looks_numeric(str(cell))
            cls = ' class="num"' if num else ""
            cells.append(f"<{tag}{cls}>{text}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _looks_numeric(text: str) -> bool:
    try:
        float(text.rstrip("%").replace(",", ""))
    except ValueError:
        return False
    return True


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole HTML document: plotly.js inlined once, then every section in order."""
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="sub">{html.escape(subtitle)}</p>']
    for i, s in enumerate(sections):
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.note:
            body.append(f'<p class="note">{html.escape(s.note)}</p>')
        if s.figure is not None:
            body.append(_figure_html(s.figure, f"rt-fig-{i}"))
        if s.table:
            body.append(_table_html(s.table, s.header))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>",
        f'<script type="text/javascript">{_plotly_js()}</script>',
        "</head>", "<body>", *body, "</body>", "</html>", ""])
