"""Drive schemathesis-generated requests at an API and check every answer (shared by the fuzz tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

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


def fuzz_operation(operation: Any, send: Callable[[Any], Any], at_least: int, max_examples: int,
                   statuses: dict[int, int]) -> int:
    """Run generated cases (positive and negative) through ``send(case) -> response`` until ``at_least`` were sent.

    Hypothesis may exhaust a small input space (a GET without parameters)
    before ``max_examples``; further rounds use other seeds. An operation
    with nothing to break (no parameters, no token: ``GET /v1/ready``) has
    no negative case; those rounds are skipped. Returns the number of
    requests sent.
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

        @seed(round_)
        @settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal sent
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
