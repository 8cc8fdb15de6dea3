"""``raytrader exchange serve``: one emulated Binance-dialect venue on 127.0.0.1.

Any ccxt client pointed at the printed URL trades against a real matching
engine replaying the bundled (or your) bars. The venue needs each account's
API secret to verify signatures; secrets never come from the command line
(``ps`` shows every argument to every user of the machine):

* ``--account NAME:ASSET=AMOUNT,...`` names a key-store entry
  (``raytrader keys add NAME --exchange binance --stdin``); its key and
  secret are decrypted inside this process;
* ``--accounts-file FILE`` (mode 0600 or stricter) or ``--accounts-stdin``
  holds lines ``KEY:SECRET:ASSET=AMOUNT,...`` (``#`` comments allowed).

The old ``--account KEY:SECRET:...`` form is refused (exit 2). Secrets are
never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import stat
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path

from jobs.inputs import parse_columns_arg, parse_seed
from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from raytrader.errors import InputError

__all__ = ["register", "parse_account", "parse_account_ref", "read_account_lines", "build_venue"]


def _balances(text: str, where: str) -> dict[str, Decimal]:
    """``USDT=10000,BTC=1`` -> {asset: amount}; amounts finite and >= 0."""
    balances: dict[str, Decimal] = {}
    for item in filter(None, text.split(",")):
        asset, sep, amount = item.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not sep or not asset.isalnum() or not value.is_finite() or value < 0:
            raise InputError(f"{where}: bad balance {item[:40]!r} (want ASSET=AMOUNT, amount >= 0)")
        balances[asset.upper()] = value
    return balances


def parse_account(text: str, where: str = "account") -> tuple[str, str, dict[str, Decimal]]:
    """One line of an accounts file: ``KEY:SECRET:USDT=10000,BTC=1`` -> (key, secret, {asset: amount}).

    ``where`` names the line in errors (``--accounts-file F line 3``); no error message quotes the secret.
    """
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise InputError(f"{where} must look like KEY:SECRET:ASSET=AMOUNT[,ASSET=AMOUNT...]")
    key, secret, funds = parts
    return key, secret, _balances(funds, f"{where} (key {key[:40]})")


#: what to do instead of putting a secret in argv (shown when the old form is used)
_HOW = ("store the key with `raytrader keys add NAME --exchange binance --stdin` and pass --account "
        "NAME:ASSET=AMOUNT,..., or give KEY:SECRET:ASSET=AMOUNT lines in --accounts-file FILE (mode 0600) "
        "or on standard input with --accounts-stdin")


def parse_account_ref(text: str) -> tuple[str, dict[str, Decimal]]:
    """``--account NAME:USDT=10000,BTC=1`` -> (key-store entry name, {asset: amount}).

    Raises:
        InputError: the old ``KEY:SECRET:...`` form (its secret is not echoed), or a malformed value.
    """
    if text.count(":") >= 2:
        raise InputError("--account no longer takes KEY:SECRET:...: a secret on the command line is visible "
                         f"to every user in `ps`; {_HOW}")
    name, _, funds = text.partition(":")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--account {text[:60]!r} must look like NAME:ASSET=AMOUNT[,...] where NAME is a "
                         "`raytrader keys` entry")
    return name, _balances(funds, f"--account {name}")


def read_account_lines(text: str, source: str) -> list[tuple[str, str, dict[str, Decimal]]]:
    """Accounts from ``KEY:SECRET:ASSET=AMOUNT,...`` lines (blank lines and ``#`` comments skipped)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(parse_account(line, f"{source} line {number}"))
    if not out:
        raise InputError(f"{source}: no accounts (want KEY:SECRET:ASSET=AMOUNT,... lines)")
    return out


def _read_accounts_file(path_text: str) -> str:
    """The text of a private accounts file: a regular file nobody but its owner can read or write."""
    path = Path(path_text)
    try:
        info = path.stat()
    except OSError:
        raise InputError(f"--accounts-file {path_text}: no such file") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"--accounts-file {path_text}: not a regular file")
    if info.st_mode & 0o077:
        raise InputError(f"--accounts-file {path_text}: mode {stat.S_IMODE(info.st_mode):04o} lets others read "
                         f"it; run chmod 600 {path_text}")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--accounts-file {path_text}: cannot read it ({type(exc).__name__})") from None


def _accounts(args: argparse.Namespace, config: Config | None,
              passphrases: dict[str, str] | None = None) -> list[tuple[str, str, dict[str, Decimal]]]:
    """(api key, secret, balances) of every account asked for, from the key store, a file or stdin;
    ``passphrases`` (when given) receives api key -> the key store entry's passphrase (Coinbase's third secret)."""
    refs = [parse_account_ref(text) for text in args.account]
    out: list[tuple[str, str, dict[str, Decimal]]] = []
    if refs:
        from actors.keystore import KeyStore  # noqa: PLC0415 - only when the key store is used

        home = config.cluster.home if config is not None else Path("~/.raytrader").expanduser()
        store = KeyStore(home)
        for name, balances in refs:
            creds = store.credentials(name)
            out.append((creds.api_key, creds.secret, balances))
            if passphrases is not None:
                passphrases[creds.api_key] = creds.password
    if getattr(args, "accounts_file", None):
        out += read_account_lines(_read_accounts_file(args.accounts_file), f"--accounts-file {args.accounts_file}")
    if getattr(args, "accounts_stdin", False):
        out += read_account_lines(sys.stdin.read(), "--accounts-stdin")
    keys = [key for key, _, _ in out]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise InputError(f"account API key {dup[:40]!r} given twice")
    return out


def _market_symbol(name: str) -> str:
    """``BTC-USDT`` (a file name or a Yahoo ticker) -> ``BTC/USDT``; ``name`` itself when not two parts."""
    import re  # noqa: PLC0415 - late: keeps the CLI and --help fast

    match = re.fullmatch(r"([A-Za-z0-9]+)[-_]([A-Za-z0-9]+)", name)
    return f"{match.group(1).upper()}/{match.group(2).upper()}" if match else name


def _load_bars(data: str | None, sample: str | None, symbol: str | None, timeframe: str | None = None,
               columns: dict[str, str] | None = None):
    """Bars of each market: a sample, one file or every bar file in a folder (read as ``market.io`` reads
    them; timeframe from --timeframe, the file, else inferred and said; symbol from --symbol for one
    file, the file, else its name ``BASE-QUOTE.csv``)."""
    from market.io import BAR_FILE_SUFFIXES, read_bars  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.samples import load_sample  # noqa: PLC0415 - late: keeps the CLI and --help fast

    if sample:
        return [load_sample(sample)]
    path = Path(data or "")
    files = sorted(p for p in path.iterdir() if p.name.lower().endswith(BAR_FILE_SUFFIXES)) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"--data {data}: no such file or no bar files in that folder")
    bars = []
    for f in files:
        one, report = read_bars(f, symbol=symbol if len(files) == 1 else None, timeframe=timeframe, columns=columns)
        if "/" not in one.symbol:
            from jobs.inputs import file_symbol  # noqa: PLC0415 - late: keeps the CLI and --help fast

            one = one.with_meta(symbol=_market_symbol(one.symbol or file_symbol(f)))
        if one.symbol.count("/") != 1:
            raise InputError(f"--data {f}: the file does not name its market and its name is not BASE-QUOTE; "
                             "pass --symbol BASE/QUOTE (e.g. --symbol BTC/USDT)")
        if report.timeframe_source == "inferred":
            sys.stderr.write(f"{f}: timeframe {one.timeframe} inferred from the timestamps; --timeframe overrides\n")
        bars.append(one)
    if symbol:
        bars = [b for b in bars if b.symbol == symbol]
        if not bars:
            raise InputError(f"--symbol {symbol}: not in --data {data}")
    return bars


def build_venue(args: argparse.Namespace, config: Config | None = None):
    """The venue described by the command-line flags (markets, keys, deposits, fees)."""
    from market.emulator.instruments import instrument_for  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.emulator.matching import FeeSchedule  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.emulator.replay import ReplayConfig  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.emulator.venue import ApiKey, MarketSpec, Venue, VenueConfig  # noqa: PLC0415 - late: keeps the CLI and --help fast

    passphrases: dict[str, str] = {}
    accounts = _accounts(args, config, passphrases)  # first: a refused secret form fails before any data is read
    coinbase = getattr(args, "dialect", "binance") == "coinbase"
    if coinbase:
        import base64  # noqa: PLC0415 - late: keeps the CLI and --help fast
        import binascii  # noqa: PLC0415 - late: keeps the CLI and --help fast

        for key, secret, _ in accounts:
            if not passphrases.get(key):
                raise InputError(f"account {key[:40]!r}: the coinbase dialect signs with a passphrase too; store the "
                                 "account with `raytrader keys add NAME --password ...` and pass --account NAME:...")
            try:
                base64.b64decode(secret, validate=True)
            except (binascii.Error, ValueError):
                raise InputError(f"account {key[:40]!r}: a Coinbase secret is base64 (its bytes are the HMAC key)") from None
    bars = _load_bars(args.data, args.sample, args.symbol, getattr(args, "timeframe", None),
                      dict(getattr(args, "columns", ())) or None)
    keys, deposits = [], {}
    for i, (key, secret, balances) in enumerate(accounts):
        account = f"account-{i + 1}"
        keys.append(ApiKey(key=key, secret=secret, account=account, passphrase=passphrases.get(key, "")))
        deposits[account] = balances
    config = VenueConfig(name=args.venue, fees=FeeSchedule(Decimal(str(args.maker_bps)), Decimal(str(args.taker_bps))),
                         replay=ReplayConfig(price_offset_bps=Decimal(str(args.offset_bps))),
                         fee_asset="quote" if coinbase else "received")
    venue = Venue([MarketSpec(instrument_for(b), b) for b in bars], keys=keys, config=config, deposits=deposits)
    venue.advance_to(venue.start_ms + args.warmup_bars * bars[0].timeframe_ms)
    return venue


def _faults(args: argparse.Namespace):
    """The fault injection asked for by ``--fault-rate/--fault-seed/--fault-kinds`` (none by default)."""
    from market.emulator.faults import FAULT_KINDS, RandomFaults  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.emulator.server import FaultConfig  # noqa: PLC0415 - late: keeps the CLI and --help fast

    if not 0.0 <= args.fault_rate <= 1.0:
        raise InputError(f"--fault-rate {args.fault_rate:g}: must be a probability in [0, 1] (0.05 = 5 %)")
    kinds = tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in FAULT_KINDS]
    if bad or not kinds:
        raise InputError(f"--fault-kinds {args.fault_kinds[:60]!r}: use some of {', '.join(FAULT_KINDS)}")
    return FaultConfig(random=RandomFaults(rate=args.fault_rate, seed=args.fault_seed, kinds=kinds))


def _serve(args: argparse.Namespace, config: Config) -> Output:
    from market.emulator.coinbase import CoinbaseServer  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.emulator.server import EmulatorServer, ServerConfig  # noqa: PLC0415 - late: keeps the CLI and --help fast

    faults = _faults(args)
    if args.port < 0 or args.port > 65535:
        raise InputError(f"--port {args.port}: must be 0..65535")
    if args.speed is not None and not args.speed > 0:
        raise InputError(f"--speed {args.speed}: must be > 0 (or 'max')")
    if not args.data and not args.sample:
        raise InputError("give --data FILE_OR_DIR or --sample NAME")
    venue = build_venue(args, config)
    speed = None if args.speed is None else args.speed
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server_class = CoinbaseServer if args.dialect == "coinbase" else EmulatorServer
    with server_class(venue, ServerConfig(port=args.port, replay_speed=speed, faults=faults)) as server:
        ws_url = server.ws_url
        info = {"venue": args.venue, "dialect": args.dialect, "url": server.url, "ws_url": ws_url,
                "markets": sorted(venue.markets),
                "accounts": [k.key for k in venue.keys.values()], "speed": "max" if speed == math.inf else speed,
                "venue_time_ms": venue.now_ms,
                "faults": {"rate": args.fault_rate, "seed": args.fault_seed,
                           "kinds": list(faults.random.kinds)} if args.fault_rate else None}
        if args.json:
            sys.stdout.write(json.dumps(info) + "\n")
        else:
            streams = f"streams {ws_url}"
            sys.stdout.write(f"{args.venue} emulator ({args.dialect} dialect) listening on {server.url} ({streams})\n"
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
    group = add_group(sub, "exchange", "the exchange emulator (Binance or Coinbase Exchange dialect)")
    p = add_command(group, "serve", _serve, "run one emulated venue on 127.0.0.1 until Ctrl-C")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE_OR_DIR", help="bar file, or a folder of bar files (one market each)")
    src.add_argument("--sample", metavar="NAME", help="bundled sample, e.g. XRP-ETH-1m")
    p.add_argument("--symbol", help="list only this symbol (or name the symbol of a file that does not say)")
    p.add_argument("--timeframe", help="timeframe of --data files that do not say (default: inferred from the timestamps)")
    p.add_argument("--columns", type=parse_columns_arg, default=(), metavar="NAME=COLUMN,...",
                   help="map the files' column names, e.g. --columns timestamp=Date,close='Adj Close'")
    p.add_argument("--venue", default="binance", help="venue name (default binance)")
    p.add_argument("--dialect", choices=("binance", "coinbase"), default="binance",
                   help="the API it speaks: binance (api.binance.com, REST + WebSocket) or coinbase (Coinbase "
                        "Exchange REST, ccxt's coinbaseexchange; fees in the quote asset) (default binance)")
    p.add_argument("--port", type=int, default=9001, help="port on 127.0.0.1 (default 9001; 0 = any free)")
    p.add_argument("--speed", type=_speed, default=None,
                   help="replay speed: 1 = real time, N = N x, 'max' = as fast as possible (default: paused)")
    p.add_argument("--account", action="append", default=[], metavar="NAME:ASSET=AMT,...",
                   help="a funded account whose API key and secret are the `raytrader keys` entry NAME (repeatable)")
    p.add_argument("--accounts-file", metavar="FILE",
                   help="funded accounts, one KEY:SECRET:ASSET=AMT,... per line, in a file of mode 0600")
    p.add_argument("--accounts-stdin", action="store_true",
                   help="read KEY:SECRET:ASSET=AMT,... lines from standard input")
    p.add_argument("--maker-bps", type=float, default=10.0, help="maker fee in bps (default 10)")
    p.add_argument("--taker-bps", type=float, default=10.0, help="taker fee in bps (default 10)")
    p.add_argument("--offset-bps", type=float, default=0.0, help="shift every replayed price by this many bps")
    p.add_argument("--warmup-bars", type=int, default=60, help="bars of history already replayed at start (default 60)")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds (default: run until Ctrl-C)")
    p.add_argument("--fault-rate", type=float, default=0.0, metavar="P",
                   help="hit each REST request with a fault with probability P (0.05 = 5 %%; default 0: none)")
    p.add_argument("--fault-seed", type=parse_seed, default=0, help="seed of the fault draw (default 0)")
    p.add_argument("--fault-kinds", default="5xx,429,timeout,lost_response,drop_ws", metavar="KIND,...",
                   help="fault kinds drawn from (default 5xx,429,timeout,lost_response,drop_ws; also 5xx_executed)")
