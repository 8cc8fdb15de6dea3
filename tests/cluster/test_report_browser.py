"""Every kind of HTML report, made by the real commands, opened in a real headless Chromium.

For each report: no console error and no uncaught exception (read over the
DevTools protocol), no request leaves the file (plotly.js is inlined: no
CDN), every chart box was drawn by plotly (its SVG is there with data), and
a full-page screenshot has coloured pixels (the traces) inside every chart
box, not a blank page. One Chromium (a fresh profile, the flags below) opens
each report in its own tab. Chromium is installed by `make test` (see the
Makefile); the screenshots are kept in the test's temporary folder.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from PIL import Image
from websockets.sync.client import connect

from backtest.report import CHART_CLASS
from cluster.cli import main

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")
#: a pixel is "coloured" (part of a trace, not text, grid or background) when its channels differ this much
COLOURED = 60
#: coloured pixels every chart box must hold: a box with no trace drawn has none (axes, grid and text are grey).
#: A count, not a share of the box: one thin line over a short paper session covered 0.17 % of its ~1,200 x 450 box
#: (the rolling Sharpe, ~900 pixels, seen in CI), so a share threshold failed a drawn chart; 300 pixels is a 2-px
#: line ~150 px long, more than a legend's line samples
MIN_COLOURED_PIXELS = 300


class Browser:
    """A headless Chromium driven over the DevTools protocol (one websocket, flat sessions)."""

    def __init__(self, profile: Path, log: Path) -> None:
        exe = shutil.which("chromium")
        assert exe, "chromium is not installed: `make test` installs it (apt-get install -y chromium)"
        self.log = log.open("wb")
        # its temporary files under the test's folder too: a terminated headless Chromium leaves its singleton
        # folder (org.chromium.Chromium.*) in TMPDIR, one per run in /tmp before
        scratch = profile.parent / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(scratch)})
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            assert self.proc.poll() is None, f"chromium exited with {self.proc.returncode}; see {log}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port within 60 s"
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        self.ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30, legacy=True)
        self.ids = itertools.count(1)

    def call(self, method: str, session: str | None = None, events: list | None = None, **params: Any) -> dict:
        """Send one command; returns its result; events read meanwhile are appended to ``events``."""
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            if events is not None and "method" in reply:
                events.append(reply)

    def wait_for(self, event: str, events: list, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(e["method"] == event for e in events):
            assert time.monotonic() < deadline, f"no {event} within {timeout_s} s"
            try:
                events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
            except TimeoutError:
                continue

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
            self.log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    folder = tmp_path_factory.mktemp("chromium")
    b = Browser(folder / "profile", folder / "chromium.log")
    try:
        yield b
    finally:
        b.close()


def _evaluate(b: Browser, session: str, expression: str, events: list) -> Any:
    out = b.call("Runtime.evaluate", session, events, expression=expression, returnByValue=True)
    return out["result"].get("value")


_CHARTS_JS = f"""JSON.stringify([...document.querySelectorAll('.{CHART_CLASS}')].map(e => {{
  const r = e.getBoundingClientRect(); const plot = e.querySelector('.js-plotly-plot');
  return {{x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
           svg: e.querySelectorAll('.main-svg').length, traces: plot && plot.data ? plot.data.length : 0}}; }}))"""


def render(b: Browser, page: Path, shot: Path) -> dict[str, Any]:
    """Open ``page`` in a new tab; returns its errors, requests, charts and the coloured pixels in each."""
    target = b.call("Target.createTarget", url="about:blank")["targetId"]
    session = b.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    events: list[dict] = []
    try:
        for domain in ("Runtime", "Log", "Page", "Network"):
            b.call(f"{domain}.enable", session, events)
        b.call("Emulation.setDeviceMetricsOverride", session, events, width=1280, height=900, deviceScaleFactor=1,
               mobile=False)
        b.call("Page.navigate", session, events, url=page.as_uri())
        b.wait_for("Page.loadEventFired", events)
        deadline = time.monotonic() + 60
        while True:  # plotly draws after load: wait until every chart box holds its SVG
            charts = json.loads(_evaluate(b, session, _CHARTS_JS, events))
            if all(c["svg"] > 0 and c["traces"] > 0 for c in charts):
                break
            assert time.monotonic() < deadline, f"{page.name}: charts not drawn within 60 s: {charts}"
            time.sleep(0.2)
        height = int(b.call("Page.getLayoutMetrics", session, events)["cssContentSize"]["height"])
        png = b.call("Page.captureScreenshot", session, events, format="png", captureBeyondViewport=True,
                     clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})["data"]
        shot.write_bytes(base64.b64decode(png))
        _evaluate(b, session, "1", events)  # collect late console messages
    finally:
        b.call("Target.closeTarget", targetId=target)
    rgb = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))  # uint8, H x W x 3
    # each pixel's highest and lowest channel, channel by channel: numpy's max/min over a last axis of 3 took
    # ~0.9 CPU-s on a 1280 x 6000 page, this ~0.05 s (same values; high >= low, so no uint8 wrap)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high, low = np.maximum(np.maximum(red, green), blue), np.minimum(np.minimum(red, green), blue)
    coloured = (high - low) >= COLOURED
    counts = [int(coloured[int(c["y"]):int(c["y"] + c["h"]), int(c["x"]):int(c["x"] + c["w"])].sum())
              for c in charts]
    errors = [e["params"] for e in events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    ink = float((low < 255 - 40).mean())  # share of the page that is not white background (darkest channel < 215)
    return {"errors": errors, "requests": requests, "charts": charts, "coloured": counts, "ink": ink}


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    lines = [x for x in out.out.splitlines() if x.strip()]
    return json.loads(lines[-1])


SAMPLE = ["--sample", "ETH-BTC-5m"]
COMMANDS: dict[str, list[str]] = {
    "backtest": ["backtest", *SAMPLE, "-p", "fast=10", "-p", "slow=30"],
    "risk-backtest": ["risk", "backtest", "--start", "2019-01-01", "--window", "150", "--method",
                      "historical,parametric"],
    "risk-var": ["risk", "var", "--start", "2019-01-01", "--scenarios", "20000"],
    "optimize": ["optimize", "--assets", "AAPL,MSFT,JPM,XOM", "--budget", "2", "--solver", "exact"],
    "sweep": ["sweep", *SAMPLE, "-g", "fast=5:25:5", "-g", "slow=30:90:20", "--trials", "1"],
    "walkforward": ["walkforward", *SAMPLE, "-g", "fast=5:25:10", "-g", "slow=40:120:40", "--folds", "3",
                    "--train-bars", "2400"],
    "montecarlo": ["montecarlo", *SAMPLE, "-p", "fast=10", "-p", "slow=30", "--paths", "200", "--tasks", "2",
                   "--seed", "1"],
}
#: charts each kind draws (from backtest.report*)
CHARTS = {"backtest": 5, "risk-backtest": 1, "risk-var": 2, "optimize": 1, "sweep": 2, "walkforward": 1,
          "montecarlo": 1}
NEEDS_RAY = {"sweep", "walkforward", "montecarlo"}


@pytest.mark.parametrize("kind", list(COMMANDS))
def test_each_report_renders_in_chromium(kind: str, request: pytest.FixtureRequest, browser: Browser,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if kind in NEEDS_RAY:
        request.getfixturevalue("ray_session")
    path = tmp_path / f"{kind}.html"
    result = _cli([*COMMANDS[kind], "--report", str(path)], capsys)
    assert result["report_path"] == str(path) and path.stat().st_size > 3_000_000
    _assert_drawn(render(browser, path, tmp_path / f"{kind}.png"), CHARTS[kind], tmp_path / f"{kind}.png")


def _record_paper_run(summary: dict[str, Any]) -> dict[str, Any]:
    """Record the finished shared session as ``raytrader paper`` records its run (the command's recording wrapper,
    cluster.commands.runs, over the job's summary as the command returns it: a ``raytrader paper`` job of its own
    costs ~45 s); returns the run as ``raytrader runs --json`` lists it."""
    from cluster.cli import build_parser
    from cluster.commands.runs import recording
    from raytrader.cli import Output
    from raytrader.config import load_config

    words = ["paper", "-p", "fast=3", "-p", "slow=8", "--speed", "600"]
    with recording(build_parser().parse_args(words), load_config(), words) as done:
        done(Output(data={"job_id": "raysubmit_shared", "status": "SUCCEEDED", "job_url": "", "result": summary}))
    from raytrader.runs import list_records

    return list_records(load_config().cluster.home, kind="paper", limit=1)[0].to_json()


def test_a_recorded_paper_run_is_listed_reported_served_and_renders_in_chromium(
        paper_summary: dict[str, Any], api_server: dict[str, Any], browser: Browser, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The shared paper session (tests/_paper.py) as a recorded run: listed by ``raytrader runs``; its record keeps
    a copy of the journal, so its page draws after the stream is gone: served by the API (drawn from the record),
    written by ``raytrader report RUN`` (the same bytes), opened in Chromium with every chart drawn. A record
    without the copy, whose stream is gone: exit 2 naming the stream, and 404 from the API."""
    from api.auth import create_token
    from backtest.report import paper_charts
    from raytrader.config import load_config

    stream = paper_summary["journal_stream"]
    run = _record_paper_run(paper_summary)
    assert run["status"] == "ok" and run["kind"] == "paper" and run["result"]["result"]["journal_stream"] == stream
    journal = run["result"]["journal"]
    listed = _cli(["runs", "--kind", "paper", "--limit", "1"], capsys)["runs"][0]
    assert listed["id"] == run["id"] and listed["key"]["journal_stream"] == stream
    assert listed["key"]["fills"] == paper_summary["fills"] and listed["key"]["lost"] == 0
    assert main(["runs", "--kind", "paper", "--limit", "1"]) == 0
    assert f"sma_cross {paper_summary['symbol']} on binance,coinbase" in capsys.readouterr().out
    assert main(["runs", "show", run["id"]]) == 0
    shown = capsys.readouterr().out
    assert f"journal      copy of {stream}:" in shown and f"journal {stream}:" in shown  # and the job's summary
    # the copy holds the journal's execution report as `raytrader execution report` prints it, and a curve
    execution = _cli(["execution", "report", "--stream", stream], capsys)
    assert journal["execution"] == {k: v for k, v in execution.items() if k not in ("stream", "chain_ok")}
    assert journal["stream"] == stream and journal["chain_ok"] is True and execution["orders"] > 0
    assert len(journal["equity"]["equity"]) >= 2 and journal["equity"]["metrics"]["n_trades"] >= 0

    home = load_config().cluster.home
    record_file = home / "runs" / f"{run['id']}.json"
    record = json.loads(record_file.read_text())
    record["result"]["result"]["journal_stream"] = gone = f"raytrader:journal:paper:gone-{run['id'][-4:]}"
    record_file.write_text(json.dumps(record))  # the stream is gone: the report must come from the copy
    reader = create_token(api_server["redis"], "paper-report-reader", "read", rate_per_s=100, burst=100)
    status, ctype, body = _get(f"{api_server['url']}/v1/reports/{run['id']}", reader)
    assert status == 200 and ctype.startswith("text/html"), body[:300]
    assert "<h2>Equity and drawdown</h2>" in body and "<h2>Execution quality by venue" in body
    assert (home / "reports" / f"{run['id']}.html").read_text() == body  # kept for the next request
    again = _cli(["report", run["id"], "--out", str(tmp_path / "paper.html")], capsys)
    assert Path(again["report_path"]).read_text() == body  # the command draws the same page
    charts = paper_charts(paper_summary, journal)
    assert charts == 2 + 5 + 2  # the session traded and filled: its own, the equity's and execution's charts
    _assert_drawn(render(browser, tmp_path / "paper.html", tmp_path / "paper.png"), charts, tmp_path / "paper.png")

    bare = _record_paper_run({**paper_summary, "journal_stream": gone})  # no stream to copy when recorded
    assert "journal" not in bare["result"] and "empty or gone" in bare["result"]["journal_error"]
    assert main(["report", bare["id"]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"report {bare['id']}:" in err and gone in err
    status, _, body = _get(f"{api_server['url']}/v1/reports/{bare['id']}", reader)
    assert status == 404 and f"raytrader report {bare['id']}" in json.loads(body)["error"]["message"]
    assert main(["report", "paper-20000101-000000-abcd"]) == 2 and "no such run" in capsys.readouterr().err


def test_the_execution_report_of_the_paper_session_renders_in_chromium(
        paper_summary: dict[str, Any], browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``raytrader execution report --report FILE`` on the shared paper session's journal: the page holds the rows
    the command prints, and draws its charts in Chromium."""
    from backtest.report_execution import execution_charts

    page = tmp_path / "execution.html"
    written = _cli(["execution", "report", "--stream", paper_summary["journal_stream"], "--report", str(page)],
                   capsys)
    assert written["report_path"] == str(page) and written["orders"] > 0 and written["chain_ok"]
    text = page.read_text()
    rows = [f"venue {v}" for v in paper_summary["venues"]] + [f"order type {r['order_type']}"
                                                             for r in written["by_order_type"]]
    assert rows[len(paper_summary["venues"]):] and all(f"<td>{row}</td>" in text for row in rows), rows
    assert execution_charts(written) == 2  # orders filled: shortfall by venue, fills over time
    _assert_drawn(render(browser, page, tmp_path / "execution.png"), execution_charts(written),
                  tmp_path / "execution.png")


def _assert_drawn(seen: dict[str, Any], charts: int, shot: Path) -> None:
    """No error, nothing fetched off the file, ``charts`` chart boxes, each drawn (coloured), not a blank page."""
    assert seen["errors"] == [], seen["errors"]
    assert all(u.startswith(("file:", "data:", "about:")) for u in seen["requests"]), seen["requests"]
    assert len(seen["charts"]) == charts, seen["charts"]
    assert all(c["w"] > 300 and c["h"] > 200 for c in seen["charts"]), seen["charts"]
    assert min(seen["coloured"], default=MIN_COLOURED_PIXELS) >= MIN_COLOURED_PIXELS, (seen["coloured"], shot)
    assert seen["ink"] >= 0.01, (seen["ink"], shot)  # text and tables at least: not blank


def test_report_of_a_recorded_backtest_redraws_the_same_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(home))
    first = tmp_path / "first.html"
    _cli([*COMMANDS["backtest"], "--report", str(first)], capsys)
    run = _cli(["runs"], capsys)["runs"][0]
    assert run["kind"] == "backtest" and run["files"]["report_path"] == str(first)
    again = _cli(["report", run["id"][:-1]], capsys)
    assert again["report_path"] == str(home / "reports" / f"{run['id']}.html")
    # the backtest ran again from its recorded command: the same numbers, so the same page byte for byte
    assert Path(again["report_path"]).read_bytes() == first.read_bytes()
    assert main(["report", "backtest-nope"]) == 2
    assert "no such run" in capsys.readouterr().err


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The Serve API's FastAPI app under uvicorn on loopback, over a private password-protected redis-server
    (the binary `raytrader up` uses); yields its base URL and a Redis client for tokens."""
    import secrets
    import threading

    import redis as redis_lib
    import uvicorn

    from api.server import create_app
    from api.services import Services
    from api.settings import ApiSettings
    from cluster.lifecycle import redis_server_binary
    from raytrader.ports import free_ports

    redis_port, api_port = free_ports(2)
    password = secrets.token_hex(16)
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([redis_server_binary(), "--bind", "127.0.0.1", "--port", str(redis_port), "--requirepass",
                             password, "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://:{password}@127.0.0.1:{redis_port}/0"
    client = redis_lib.Redis.from_url(url, decode_responses=True)
    server = uvicorn.Server(uvicorn.Config(create_app(Services.connect(ApiSettings(), url)), host="127.0.0.1",
                                           port=api_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis_lib.exceptions.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        thread.start()
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        yield {"url": f"http://127.0.0.1:{api_port}", "redis": client}
    finally:
        server.should_exit = True
        thread.join(30)
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def _get(url: str, token: str | None) -> tuple[int, str, str]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.headers.get("content-type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("content-type", ""), err.read().decode()


def test_the_api_serves_reports_by_run_id(api_server: dict[str, Any], browser: Browser, tmp_path: Path,
                                          ray_session: None, capsys: pytest.CaptureFixture[str]) -> None:
    from api.auth import create_token
    from raytrader.config import load_config

    base, redis = api_server["url"] + "/v1/reports/", api_server["redis"]
    reader = create_token(redis, "report-reader", "read", rate_per_s=100, burst=100)
    signaller = create_token(redis, "signaller", "signal", rate_per_s=100, burst=100)
    home = load_config().cluster.home  # the session's run folder: the API and the commands share it

    backtest = _cli(COMMANDS["backtest"], capsys)  # recorded, no report written yet
    run_id = _cli(["runs", "--kind", "backtest", "--limit", "1"], capsys)["runs"][0]["id"]
    status, _, body = _get(base + run_id, reader)
    assert status == 404 and f"raytrader report {run_id}" in body  # a backtest's report needs the command
    written = Path(_cli(["report", run_id], capsys)["report_path"])
    status, ctype, body = _get(base + run_id, reader)
    assert status == 200 and ctype.startswith("text/html") and body == written.read_text()
    assert backtest["strategy"] in body

    mc = _cli(COMMANDS["montecarlo"], capsys)  # drawn by the API itself from the record
    mc_id = _cli(["runs", "--kind", "montecarlo", "--limit", "1"], capsys)["runs"][0]["id"]
    assert not (home / "reports" / f"{mc_id}.html").exists()
    status, ctype, body = _get(base + mc_id, reader)
    assert status == 200 and "<h2>Distribution over the resampled paths</h2>" in body
    assert f"{mc['n_paths']} paths" in body
    assert (home / "reports" / f"{mc_id}.html").read_text() == body  # kept for the next request
    seen = render(browser, home / "reports" / f"{mc_id}.html", tmp_path / "api-montecarlo.png")
    assert seen["errors"] == [] and min(seen["coloured"]) >= MIN_COLOURED_PIXELS

    for bad in ("nope", "..%2F..%2Fetc%2Fpasswd", "backtest-20261201-000000-zzzz", "x" * 200):
        status, _, body = _get(base + bad, reader)
        assert status in (404, 422) and json.loads(body)["error"]["field"] in ("id", "run_id", None), (bad, body)
    assert _get(base + "sweep-20000101-000000-abcd", reader)[0] == 404
    assert _get(base + run_id, None)[0] == 401
    assert _get(base + run_id, signaller)[0] == 403
