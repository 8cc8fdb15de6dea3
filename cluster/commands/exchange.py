"""``raytrader exchange serve``: one emulated Binance-dialect venue on 127.0.0.1.

Any ccxt client pointed at the printed URL trades against a real matching
engine replaying the bundled (or your) bars. API secrets given with
``--account`` are used to verify signatures and are never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path

from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from raytrader.errors import InputError

__all__ = ["register", "parse_account", "build_venue"]


def parse_account(text: str) -> tuple[str, str, dict[str, Decimal]]:
    """``KEY:SECRET:USDT=10000,BTC=1`` -> (key, secret, {asset: amount}); amounts >= 0."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise InputError("--account must look like KEY:SECRET:ASSET=AMOUNT[,ASSET=AMOUNT...]")
    key, secret, funds = parts
    balances: dict[str, Decimal] = {}
    for item in filter(None, funds.split(",")):
        asset, sep, amount = item.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not sep or not asset.isalnum() or not value.is_finite() or value < 0:
            raise InputError(f"--account for key {key}: bad balance {item!r} (want ASSET=AMOUNT, amount >= 0)")
        balances[asset.upper()] = value
    return key, secret, balances


def _load_bars(data: str | None, sample: str | None, symbol: str | None):
    from market.io import read_bars  # noqa: PLC0415
    from market.samples import load_sample  # noqa: PLC0415

    if sample:
        return [load_sample(sample)]
    path = Path(data or "")
    files = sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".csv", ".feather")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"--data {data}: no such file or no bar files in that folder")
    bars = [read_bars(f, symbol=symbol if len(files) == 1 else None)[0] for f in files]
    if symbol:
        bars = [b for b in bars if b.symbol == symbol]
        if not bars:
            raise InputError(f"--symbol {symbol}: not in --data {data}")
    return bars


def build_venue(args: argparse.Namespace):
    """The venue described by the command-line flags (markets, keys, deposits, fees)."""
    from market.emulator.instruments import instrument_for  # noqa: PLC0415
    from market.emulator.matching import FeeSchedule  # noqa: PLC0415
    from market.emulator.replay import ReplayConfig  # noqa: PLC0415
    from market.emulator.venue import ApiKey, MarketSpec, Venue, VenueConfig  # noqa: PLC0415

    bars = _load_bars(args.data, args.sample, args.symbol)
    keys, deposits = [], {}
    for i, text in enumerate(args.account):
        key, secret, balances = parse_account(text)
        account = f"account-{i + 1}"
        keys.append(ApiKey(key=key, secret=secret, account=account))
        deposits[account] = balances
    config = VenueConfig(name=args.venue, fees=FeeSchedule(Decimal(str(args.maker_bps)), Decimal(str(args.taker_bps))),
                         replay=ReplayConfig(price_offset_bps=Decimal(str(args.offset_bps))))
    venue = Venue([MarketSpec(instrument_for(b), b) for b in bars], keys=keys, config=config, deposits=deposits)
    venue.advance_to(venue.start_ms + args.warmup_bars * bars[0].timeframe_ms)
    return venue


def _serve(args: argparse.Namespace, config: Config) -> Output:
    from market.emulator.server import EmulatorServer, ServerConfig  # noqa: PLC0415

    if args.port < 0 or args.port > 65535:
        raise InputError(f"--port {args.port}: must be 0..65535")
    if args.speed is not None and not args.speed > 0:
        raise InputError(f"--speed {args.speed}: must be > 0 (or 'max')")
    if not args.data and not args.sample:
        raise InputError("give --data FILE_OR_DIR or --sample NAME")
    venue = build_venue(args)
    speed = None if args.speed is None else args.speed
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmulatorServer(venue, ServerConfig(port=args.port, replay_speed=speed)) as server:
        info = {"venue": args.venue, "url": server.url, "ws_url": server.ws_url, "markets": sorted(venue.markets),
                "accounts": [k.key for k in venue.keys.values()], "speed": "max" if speed == math.inf else speed,
                "venue_time_ms": venue.now_ms}
        if args.json:
            sys.stdout.write(json.dumps(info) + "\n")
        else:
            sys.stdout.write(f"{args.venue} emulator listening on {server.url} (streams {server.ws_url})\n"
                             f"markets: {', '.join(info['markets'])}; accounts: {', '.join(info['accounts']) or 'none'}\n"
                             f"replay speed: {info['speed'] or 'paused'}; Ctrl-C stops it\n")
        sys.stdout.flush()
        stop.wait(args.seconds if args.seconds else None)
    return Output(data=info, already_printed=True)


def _speed(text: str) -> float:
    if text == "max":
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed {text!r} must be a number or 'max'") from None


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "exchange", "the Binance-dialect exchange emulator")
    p = add_command(group, "serve", _serve, "run one emulated venue on 127.0.0.1 until Ctrl-C")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE_OR_DIR", help="bar file, or a folder of bar files (one market each)")
    src.add_argument("--sample", metavar="NAME", help="bundled sample, e.g. XRP-ETH-1m")
    p.add_argument("--symbol", help="list only this symbol (or name the symbol of a file that does not say)")
    p.add_argument("--venue", default="binance", help="venue name (default binance)")
    p.add_argument("--port", type=int, default=9001, help="port on 127.0.0.1 (default 9001; 0 = any free)")
    p.add_argument("--speed", type=_speed, default=None,
                   help="replay speed: 1 = real time, N = N x, 'max' = as fast as possible (default: paused)")
    p.add_argument("--account", action="append", default=[], metavar="KEY:SECRET:ASSET=AMT,...",
                   help="a funded account with its API key and secret (repeatable)")
    p.add_argument("--maker-bps", type=float, default=10.0, help="maker fee in bps (default 10)")
    p.add_argument("--taker-bps", type=float, default=10.0, help="taker fee in bps (default 10)")
    p.add_argument("--offset-bps", type=float, default=0.0, help="shift every replayed price by this many bps")
    p.add_argument("--warmup-bars", type=int, default=60, help="bars of history already replayed at start (default 60)")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds (default: run until Ctrl-C)")
