"""``raytrader audit verify | export`` against the shared test cluster's Redis, on a stream unique to each test."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
import redis

from actors.journal import EntryKind, Journal
from actors.messages import CancelRequest, Fill, OrderIntent, ReconciliationResult
from cluster.cli import main
from risk.pretrade import RiskDecision, RiskReason

pytestmark = pytest.mark.ray


def _entries() -> list[tuple[EntryKind, object]]:
    intent = OrderIntent(venue="binance", symbol="XRP/ETH", side="buy", type="limit", amount=10.0, intent_id="i1",
                         price=0.0005)
    decision = RiskDecision(approved=True, reason=RiskReason.APPROVED, action="submit", intent_id="i1",
                            venue="binance", symbol="XRP/ETH", side="buy", amount=10.0, price=0.0005,
                            detail="all rules passed", ts_ms=1)
    fill = Fill(venue="binance", symbol="XRP/ETH", trade_id="t1", order_id="7", client_order_id="c1", side="buy",
                price=0.0005, amount=10.0, fee_cost=0.00001, fee_currency="ETH", is_maker=True, timestamp_ms=2)
    return [(EntryKind.RISK_DECISION, decision), (EntryKind.INTENT, intent), (EntryKind.FILL, fill),
            (EntryKind.CANCEL, CancelRequest("binance", "XRP/ETH", "c1", "user")),
            (EntryKind.RECONCILIATION, ReconciliationResult("binance", True, 0, adopted=("x1", "x2")))]


@pytest.fixture
def journal(cluster) -> Journal:
    client = redis.Redis.from_url(cluster.redis.url())
    stream = f"test:journal:{uuid.uuid4().hex[:12]}"
    try:
        yield Journal(client, stream)  # durability="fsync": the cluster's Redis must run appendfsync always
    finally:
        client.delete(stream)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_verify_passes_then_names_the_first_broken_entry(journal: Journal, capsys) -> None:
    code, out, _ = _cli(capsys, "audit", "verify", "--stream", journal.stream)
    assert code == 0 and "no entries" in out
    written = [journal.append(kind, payload) for kind, payload in _entries()]
    code, out, _ = _cli(capsys, "audit", "verify", "--stream", journal.stream, "--json")
    report = json.loads(out)
    assert code == 0 and report == {"stream": journal.stream, "ok": True, "entries": 5, "head_hash": written[-1].hash}
    code, out, _ = _cli(capsys, "audit", "verify", "--stream", journal.stream)
    assert code == 0 and "5 entries, chain verified" in out

    # an entry written behind the journal's back: right shape, wrong prev
    fields = journal.client.xrange(journal.stream, count=1)[0][1]
    forged = journal.client.xadd(journal.stream, {b"seq": b"6", b"prev": fields[b"prev"], b"hash": fields[b"hash"],
                                                  b"body": fields[b"body"]}).decode()
    journal.append(EntryKind.CANCEL, CancelRequest("binance", "XRP/ETH", "c2", "user"))  # appends after the forgery
    code, out, err = _cli(capsys, "audit", "verify", "--stream", journal.stream)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"entry {forged} (seq 6)" in err and "prev" in err and "5 entries before" in err


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_every_entry(journal: Journal, capsys, tmp_path: Path, fmt: str) -> None:
    entries = _entries()
    written = [journal.append(kind, payload) for kind, payload in entries]
    out_path = tmp_path / f"j.{fmt}"
    code, out, _ = _cli(capsys, "audit", "export", "--stream", journal.stream, "--format", fmt, "--out",
                        str(out_path), "--json")
    result = json.loads(out)
    assert code == 0 and result["entries"] == 5 and result["chain_ok"] and Path(result["path"]) == out_path
    frame = pd.read_parquet(out_path) if fmt == "parquet" else pd.read_csv(out_path)
    assert list(frame["seq"]) == [1, 2, 3, 4, 5]
    assert list(frame["kind"]) == [k.value for k, _ in entries]
    assert list(frame["hash"]) == [e.hash for e in written]
    assert list(frame["stream_id"]) == [e.stream_id for e in written]
    fill = entries[2][1]
    row = frame[frame["kind"] == "fill"].iloc[0]
    assert row["payload.trade_id"] == fill.trade_id and row["payload.fee_cost"] == fill.fee_cost
    assert frame[frame["kind"] == "risk_decision"].iloc[0]["payload.reason"] == "APPROVED"
    assert json.loads(frame[frame["kind"] == "reconciliation"].iloc[0]["payload.adopted"]) == ["x1", "x2"]
    assert json.loads(frame.iloc[1]["payload"])["intent_id"] == "i1"


def test_export_rejects_an_unknown_format(capsys) -> None:
    code = None
    with pytest.raises(SystemExit) as info:
        code = main(["audit", "export", "--format", "xlsx"])
    assert code is None and info.value.code == 2
    assert "xlsx" in capsys.readouterr().err
