"""raytrader.params: NAME=VALUE items split in order, each name once, errors naming the flag and the item."""

from __future__ import annotations

import pytest

from raytrader.errors import InputError
from raytrader.params import name_value_pairs


class FlagError(InputError):
    pass


def test_items_split_in_order_and_a_value_may_hold_equals_signs() -> None:
    assert name_value_pairs(["b=2", "a=x=y", "c="], "-p") == [("b", "2"), ("a", "x=y"), ("c", "")]
    assert name_value_pairs([], "-p") == []


@pytest.mark.parametrize("items, message", [
    (["fast"], "-p 'fast': expected NAME=VALUE"),
    (["=3"], "-p '=3': expected NAME=VALUE"),
    (["fast=1", "slow=2", "fast=1"], "-p fast: given twice"),
])
def test_bad_items_raise_the_callers_error_naming_the_item(items: list[str], message: str) -> None:
    with pytest.raises(FlagError) as caught:
        name_value_pairs(items, "-p", FlagError)
    assert str(caught.value) == message
