"""One APIRouter per area, mounted by :func:`api.server.create_app`.

``signals`` (POST signals, batch), ``meta`` (strategies, health; ready, without a token) and
``stream`` (the WebSocket feed), ``trading`` (portfolio, orders, risk; halt and resume, over the
running trading deployment). A new area is a module with a ``router`` and its endpoints marked with
:func:`api.guard.requires` (``read`` / ``trade`` / ``admin``), added to :data:`ROUTERS`.
"""

from api.routes import meta, reports, signals, stream, trading

__all__ = ["ROUTERS"]

#: (router, its tag) in the order they appear in the OpenAPI document
ROUTERS = (signals.router, meta.router, meta.ready_router, stream.router, trading.router, reports.router)
