"""Sector labels and sector caps for portfolio selection.

A sector cap ``label=k`` allows at most ``k`` lots (with single-lot bits: at
most ``k`` assets) from assets labelled ``label``. Labels are free-form
lower-case words; the bundled 20-stock panel comes with its GICS sectors
(:data:`BUNDLED_SECTORS`), so ``--sector-caps information-technology=1``
works on it without ``--sectors``.
"""

from __future__ import annotations

import re
from typing import Mapping

from quantum.errors import ProblemOptionError

__all__ = ["BUNDLED_SECTORS", "parse_sectors", "parse_sector_caps", "sectors_for"]

#: GICS sector of each stock in the bundled panel (market/samples/sp500-20-stocks-1d-1990-2022)
BUNDLED_SECTORS: Mapping[str, str] = {
    "AAPL": "information-technology", "AMD": "information-technology", "MSFT": "information-technology",
    "BAC": "financials", "JPM": "financials",
    "BBY": "consumer-discretionary", "HD": "consumer-discretionary",
    "CVX": "energy", "RRC": "energy", "XOM": "energy",
    "GE": "industrials",
    "JNJ": "health-care", "LLY": "health-care", "MRK": "health-care", "PFE": "health-care", "UNH": "health-care",
    "KO": "consumer-staples", "PEP": "consumer-staples", "PG": "consumer-staples", "WMT": "consumer-staples",
}

_LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _pairs(field: str, text: str) -> list[tuple[str, str]]:
    pairs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ProblemOptionError(field, f"{part!r} must look like NAME=VALUE")
        pairs.append((name.strip(), value.strip()))
    if not pairs:
        raise ProblemOptionError(field, "is empty")
    return pairs


def parse_sectors(text: str) -> dict[str, str]:
    """``"AAPL=tech,XOM=energy"`` → ``{"AAPL": "tech", "XOM": "energy"}`` (labels lower-cased)."""
    out: dict[str, str] = {}
    for asset, label in _pairs("sectors", text):
        label = label.lower()
        if not _LABEL.match(label):
            raise ProblemOptionError("sectors", f"sector label {label!r} of {asset} must be letters, digits, - or _")
        if asset in out:
            raise ProblemOptionError("sectors", f"{asset} is given twice")
        out[asset] = label
    return out


def parse_sector_caps(text: str) -> dict[str, int]:
    """``"energy=1,health-care=2"`` → ``{"energy": 1, "health-care": 2}``; each cap an integer ≥ 0."""
    out: dict[str, int] = {}
    for label, value in _pairs("sector-caps", text):
        label = label.lower()
        try:
            cap = int(value)
        except ValueError:
            raise ProblemOptionError("sector-caps", f"cap of {label!r} must be an integer, got {value!r}") from None
        if cap < 0:
            raise ProblemOptionError("sector-caps", f"cap of {label!r} must be >= 0, got {cap}")
        if label in out:
            raise ProblemOptionError("sector-caps", f"sector {label!r} is given twice")
        out[label] = cap
    return out


def sectors_for(assets: tuple[str, ...], explicit: Mapping[str, str] | None,
                caps: Mapping[str, int]) -> dict[str, str]:
    """The sector of each asset: ``explicit`` labels first, then :data:`BUNDLED_SECTORS`.

    Every asset must get a label, and every capped sector must be the label of at
    least one asset (a cap on a sector nobody is in is almost surely a typo).
    """
    labels = {**{a: BUNDLED_SECTORS[a] for a in assets if a in BUNDLED_SECTORS}, **(explicit or {})}
    unknown = [a for a in (explicit or {}) if a not in assets]
    if unknown:
        raise ProblemOptionError("sectors", f"{', '.join(unknown)} not among the selected assets")
    missing = [a for a in assets if a not in labels]
    if missing:
        raise ProblemOptionError("sectors", f"no sector for {', '.join(missing)}; give --sectors ASSET=LABEL,...")
    stray = sorted(set(caps) - set(labels.values()))
    if stray:
        raise ProblemOptionError("sector-caps", f"no asset is in sector {', '.join(stray)} "
                                               f"(sectors here: {', '.join(sorted(set(labels.values())))})")
    return labels
