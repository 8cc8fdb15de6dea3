"""actors.handles: a named actor's handle is looked up once, and again only after a call found the actor gone
(on the shared test cluster)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
import ray

from actors.handles import GONE, NamedActor, NamedActors


@ray.remote(num_cpus=0)
class _Echo:
    def pid(self) -> int:
        return os.getpid()

    def fail(self) -> None:
        raise KeyError("an application error, not a gone actor")


def _recreated(namespace: str, timeout_s: float = 30.0) -> object:
    """A new ``echo`` once the killed one has given its name back."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return _Echo.options(name="echo", namespace=namespace).remote()
        except ValueError:  # the name is still the dying actor's
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _name_released(namespace: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get_actor("echo", namespace=namespace)
        except ValueError:
            return
        time.sleep(0.05)
    raise AssertionError("the killed actor still holds its name")


def test_a_cached_handle_is_looked_up_once_and_again_after_its_actor_was_recreated(ray_session) -> None:
    """Many calls, one lookup; an application error keeps the handle; once the actor is killed and a new one takes
    its name, the first call fails with the actor gone and the next reaches the new actor (one more lookup)."""
    namespace = f"handles-{uuid.uuid4().hex[:8]}"
    first = _Echo.options(name="echo", namespace=namespace).remote()
    peers = NamedActors(namespace)
    named = peers("echo")
    assert peers("echo") is named and isinstance(named, NamedActor)

    async def calls(n: int) -> list[int]:
        return [await named.pid.remote() for _ in range(n)]

    pids = asyncio.run(calls(20))
    assert len(set(pids)) == 1 and named.lookups == 1
    with pytest.raises(KeyError):
        asyncio.run(named.fail.remote())
    assert named.lookups == 1 and asyncio.run(calls(1)) == pids[:1]

    ray.kill(first, no_restart=True)
    second = _recreated(namespace)
    try:
        with pytest.raises(GONE):
            asyncio.run(calls(1))
        new_pid = asyncio.run(calls(1))[0]
        assert new_pid == ray.get(second.pid.remote()) and new_pid != pids[0]
        assert named.lookups == 2
    finally:
        ray.kill(second, no_restart=True)
    _name_released(namespace)  # the kill is asynchronous: until then a call may still be answered
    with pytest.raises(GONE):
        asyncio.run(calls(1))
    with pytest.raises(ValueError):  # no actor has the name any more: nothing cached, asked each time
        asyncio.run(calls(1))
    assert named.lookups == 3
