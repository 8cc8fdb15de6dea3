"""Where the long-lived trading deployment lives on the cluster: its Ray namespace and control actor.

``raytrader trade start FILE`` starts the trading actors (``exchange:<venue>``,
``oms``, ``portfolio``, ``risk``, ``strategy:<name>:<symbol>@<venue>``) and one
``control`` actor (:class:`actors.deployment.TradingControl`), all named and
detached in the Ray namespace :data:`TRADE_NAMESPACE`. One deployment runs
per cluster: it runs exactly while the ``control`` actor exists there. The
CLI (``raytrader trade|portfolio|orders``) and the Serve API
(``/v1/portfolio``, ``/v1/orders``, ``/v1/risk``) both talk to the deployment
only through that actor, found by these two names; neither needs anything
else to find it. Pure: no Ray here (the names are plain strings).
"""

from __future__ import annotations

__all__ = ["TRADE_NAMESPACE", "CONTROL_NAME"]

#: Ray namespace of the trading deployment's named, detached actors
TRADE_NAMESPACE = "raytrader-trade"
#: name of the deployment's control actor in :data:`TRADE_NAMESPACE`
CONTROL_NAME = "control"
