"""``raytrader order``: a bad flag exits 2 with one line naming it, before the cluster is asked (in this process,
no cluster). The command against a running deployment is shown in the README's real run; the router behind it
is tested in tests/actors/test_router.py."""

from __future__ import annotations

import pytest

from tests._trade import cli

NEW = ("order", "--venue", "alpha", "--symbol", "XRP/ETH", "--side", "buy", "--qty", "10")


@pytest.mark.parametrize("argv, flag", [
    (("order", "--venue", "alpha", "--symbol", "XRP/ETH", "--side", "buy"), "--qty"),
    ((*NEW, "--algo", "twap", "--slices", "0", "--duration", "5"), "--slices"),
    ((*NEW, "--algo", "twap", "--slices", "3"), "--duration"),
    ((*NEW, "--algo", "iceberg", "--display", "5"), "--limit"),
    ((*NEW, "--algo", "iceberg", "--display", "0.5", "--limit", "1"), "--display"),
    ((*NEW[:2], "alpha,beta", *NEW[3:], "--algo", "twap", "--slices", "3", "--duration", "5"), "--venue"),
    ((*NEW, "--algo", "route", "--participation", "2"), "--participation"),
    ((*NEW, "--id", "has space"), "--id"),
    ((*NEW, "--limit", "0.0005", "--tif", "GTT"), "--tif"),   # not one of GTC, IOC, FOK
    ((*NEW, "--algo", "route", "--tif", "ioc"), "--tif"),     # IOC needs --limit: market children are immediate
])
def test_a_bad_flag_exits_2_with_one_line_naming_it(argv: tuple[str, ...], flag: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (code, out, err)
    assert flag in err, err
