"""Drive schemathesis-generated requests at an API and check every answer (shared by the fuzz tests)."""

from __future__ import annotations

import json
import traceback
import types
from collections.abc import Callable, Mapping
from typing import Any

import schemathesis
import schemathesis.generation.jsonschema.strategy as _jsonschema_strategy
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as _st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from api.server import create_app
from api.services import Services
from api.settings import ApiSettings

class _CachedFixedDictionaries(types.ModuleType):
    """``hypothesis.strategies`` as schemathesis' JSON-schema module sees it, except that ``fixed_dictionaries`` of
    the same keys and value strategies returns the same strategy object.

    Every object schemathesis draws (each bar series, each batch item) builds a new ``fixed_dictionaries``
    strategy inside the draw, and hypothesis validates every new strategy on its first draw: ~15 % of the CPU that
    generating ``POST /v1/signals/{strategy}/batch`` cases took (~5 of ~33 ms per case, measured). A cached
    strategy is validated once. Draws are unchanged: the same seed gives byte-identical cases with and without
    the cache (checked on 200 batch cases). The cache holds one entry per set of chosen optional keys of each
    object schema (~60 for this API).
    """

    def __init__(self) -> None:
        super().__init__("hypothesis.strategies")
        self._cache: dict[tuple, tuple[Any, Mapping]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(_st, name)

    def fixed_dictionaries(self, mapping: Mapping, **optional: Any) -> Any:
        if optional:
            return _st.fixed_dictionaries(mapping, **optional)
        key = tuple((k, id(v)) for k, v in mapping.items())  # the entry keeps the value strategies, so ids hold
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = (_st.fixed_dictionaries(mapping), dict(mapping))
        return hit[0]


if getattr(_jsonschema_strategy, "st", None) is _st:  # a schemathesis that draws objects differently: left alone
    _jsonschema_strategy.st = _CachedFixedDictionaries()

#: text that would betray a stack trace in a response
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages", ".py\", line ")


def check_response(status: int, text: str, headers: Any, busy_ok: bool = False) -> None:
    """No 5xx, no traceback, and every error in the API's one JSON shape.

    ``busy_ok``: a 503 with ``Retry-After`` is allowed (load shedding, tests of the in-flight limits).
    """
    headers = {str(k).lower(): (v[0] if isinstance(v, (list, tuple)) else v) for k, v in dict(headers).items()}
    shed = busy_ok and status == 503 and int(headers.get("retry-after", "0")) >= 1
    assert status < 500 or shed, f"HTTP {status}: {text[:500]}"
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, f"traceback text {marker!r} in a response: {text[:500]}"
    if status >= 400:
        body = json.loads(text)
        assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"]), text[:300]
        if status == 401:
            assert "bearer" in headers.get("www-authenticate", "").lower()
        if status == 429:
            assert int(headers["retry-after"]) >= 1


def plain_case(case: Any) -> dict[str, Any]:
    """What a generated case sends (method, path parameters, headers, cookies, query, body, media type), as plain
    picklable data: :func:`replay_case` sends the same request again (to another server)."""
    body = case.body
    return {"method": case.method, "path_parameters": dict(case.path_parameters), "headers": dict(case.headers),
            "cookies": dict(case.cookies), "query": dict(case.query), "media_type": case.media_type,
            "body": None if isinstance(body, NotSet) else body, "has_body": not isinstance(body, NotSet)}


def replay_case(operation: Any, plain: dict[str, Any]) -> Any:
    """A case of ``operation`` (another schema's, e.g. the live server's) that sends what :func:`plain_case` kept."""
    return operation.Case(method=plain["method"], path_parameters=plain["path_parameters"], headers=plain["headers"],
                          cookies=plain["cookies"], query=plain["query"], media_type=plain["media_type"],
                          **({"body": plain["body"]} if plain["has_body"] else {}))


def fuzz_operation(operation: Any, send: Callable[[Any], Any], at_least: int, max_examples: int,
                   statuses: dict[int, int], first_seed: int = 0, kept: dict[str, list] | None = None,
                   keep: int = 0) -> int:
    """Run generated cases (positive and negative) through ``send(case) -> response`` until ``at_least`` were sent.

    Hypothesis may exhaust a small input space (a GET without parameters)
    before ``max_examples``; further rounds use other seeds. An operation
    with nothing to break (no parameters, no token: ``GET /v1/ready``) has
    no negative case; those rounds are skipped. Round ``k`` is seeded
    ``first_seed + k`` (parts of one fuzz run in parallel processes pass
    distinct ranges). ``kept``: the first ``keep`` cases sent of each mode
    (``positive`` / ``negative``) are added to it (:func:`plain_case`).
    Returns the number of requests sent.
    """
    sent = 0
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    max_examples = max(1, max_examples // 2)  # half positive, half negative per round
    for round_ in range(200):
        mode = modes[round_ % 2]
        try:
            strategy = operation.as_strategy(generation_mode=mode)
        except Exception:  # noqa: BLE001 - an operation without a negative space
            continue

        @seed(first_seed + round_)
        @settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal sent
            if kept is not None and len(kept.setdefault(mode.value, [])) < keep:  # noqa: B023 - run() runs in this round
                kept[mode.value].append(plain_case(case))  # noqa: B023 - as above
            response = send(case)
            sent += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            check_response(response.status_code, response.text, response.headers)

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
        if sent >= at_least:
            break
    return sent


def loopback(app: Any) -> Any:
    """The ASGI test transport reports the peer as 'testclient'; present it as 127.0.0.1 like a real socket."""
    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope = {**scope, "client": ("127.0.0.1", 50000)}
        await app(scope, receive, send)
    return wrapped


#: the in-process fuzz's worker processes: the app and its schema, built once per process
_WORKER: dict[str, Any] = {}
#: seed distance between the parts of an endpoint's rounds (part k uses k * PART_SEEDS, +1, ...; at most 200 rounds)
PART_SEEDS = 1_000_000


def start_worker(redis_url: str, token: str) -> None:
    """A worker process's start: the API app (on ``redis_url``) through ASGI, its schema, the fuzz token."""
    app = loopback(create_app(Services.connect(ApiSettings(), redis_url)))
    _WORKER.update(schema=schemathesis.openapi.from_asgi("/openapi.json", app), token=token)


def fuzz_part(label: str, requests: int, first_seed: int,
              keep: int = 0) -> tuple[int, dict[int, int], str | None, dict[str, list]]:
    """In a worker: ``requests`` generated requests at ``label``; (sent, statuses, the failure's text or None, the
    first ``keep`` cases of each mode as :func:`plain_case` keeps them)."""
    schema, token = _WORKER["schema"], _WORKER["token"]
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    statuses: dict[int, int] = {}
    kept: dict[str, list] = {}
    try:
        sent = fuzz_operation(operation, lambda case: case.call(headers={"Authorization": f"Bearer {token}"}),
                              at_least=requests, max_examples=requests, statuses=statuses, first_seed=first_seed,
                              kept=kept, keep=keep)
    except BaseException as exc:  # noqa: BLE001 - handed to the test in the parent process, with hypothesis' notes
        return 0, statuses, "".join(traceback.format_exception(exc)), kept
    return sent, statuses, None, kept
