"""Cached handles to named actors: one ``ray.get_actor`` per actor, not one per call.

``ray.get_actor`` is a blocking round trip to the GCS; called before every
venue call and every poll it blocked the async trading actors' event loops
for nothing: a handle stays valid while its actor lives and across Ray's
restarts of it (``max_restarts``). :class:`NamedActor` looks its actor up on
first use and again only after a call on it failed with the actor gone
(:data:`GONE`: died, or unreachable for now), so an actor re-created under
the same name (a new actor id) is found by the call after the failure.

A :class:`NamedActor` is used like the handle: ``await
named.method.remote(*args)``; the call is submitted at once and the awaitable
it returns raises what the call raised.
"""

from __future__ import annotations

from typing import Any

import ray
from ray.exceptions import RayActorError

__all__ = ["GONE", "NamedActor", "NamedActors"]

#: a call failed because its actor is gone (ActorDiedError: for good; ActorUnavailableError: until Ray restarts
#: it; plain RayActorError where Ray raises no subclass): look the name up again
GONE: tuple[type[BaseException], ...] = (RayActorError,)


class NamedActor:
    """The actor ``name`` in ``namespace``, its handle cached (see the module docstring).

    ``ValueError`` (from ``ray.get_actor``) when no actor has the name; nothing is cached then.
    """

    def __init__(self, name: str, namespace: str) -> None:
        self.name, self.namespace = name, namespace
        self._handle: Any = None
        self.lookups = 0  # how many times ray.get_actor was asked (for tests and status)

    def handle(self) -> Any:
        """The cached handle; looked up when there is none."""
        if self._handle is None:
            self.lookups += 1
            self._handle = ray.get_actor(self.name, namespace=self.namespace)
        return self._handle

    def forget(self) -> None:
        """Drop the cached handle: the next call looks the name up again."""
        self._handle = None

    def __getattr__(self, method: str) -> _Method:
        if method.startswith("__"):
            raise AttributeError(method)
        return _Method(self, method)

    async def _watched(self, ref: Any) -> Any:
        try:
            return await ref
        except GONE:
            self.forget()
            raise


class _Method:
    """``named.method``: ``.remote(*args, **kwargs)`` submits the call on the cached handle now."""

    def __init__(self, actor: NamedActor, method: str) -> None:
        self.actor, self.method = actor, method

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        actor = self.actor
        try:
            ref = getattr(actor.handle(), self.method).remote(*args, **kwargs)
        except GONE:
            actor.forget()
            raise
        return actor._watched(ref)


class NamedActors:
    """One :class:`NamedActor` per name in ``namespace`` (an actor's peers: the OMS, the venues' actors...)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._by_name: dict[str, NamedActor] = {}

    def __call__(self, name: str) -> NamedActor:
        found = self._by_name.get(name)
        if found is None:
            found = self._by_name[name] = NamedActor(name, self.namespace)
        return found
