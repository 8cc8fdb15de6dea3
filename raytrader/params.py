"""``NAME=VALUE`` items from the command line (``-p fast=10``, ``--exec-param slices=4``): split, names unique.

Pure; the callers turn the values into what they need (numbers for a strategy's or an algorithm's parameters).
"""

from __future__ import annotations

from typing import Sequence

from raytrader.errors import InputError

__all__ = ["name_value_pairs"]


def name_value_pairs(items: Sequence[str], flag: str, error: type[InputError] = InputError) -> list[tuple[str, str]]:
    """``["fast=10", "x=0.5"]`` -> ``[("fast", "10"), ("x", "0.5")]``, in the given order.

    Raises ``error`` naming ``flag`` and the item: an item without ``=`` or with an empty name
    (``"-p 'fast': expected NAME=VALUE"``), or a name given twice (``"-p fast: given twice"``; the second value
    would otherwise silently win or be dropped)."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise error(f"{flag} {item!r}: expected NAME=VALUE")
        if name in seen:
            raise error(f"{flag} {name}: given twice")
        seen.add(name)
        pairs.append((name, value))
    return pairs
