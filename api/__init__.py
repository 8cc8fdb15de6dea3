"""The Ray Serve API: signals from the same strategy functions the backtests run, behind tokens and limits.

Modules: ``schemas`` (request/response models, posted bars -> validated
``Bars``), ``signals`` (pure: a strategy's target at the last bar),
``auth`` (tokens hashed in Redis, scopes, allowlist), ``ratelimit``
(token bucket, pure and as a Redis script), ``guard`` (the ASGI middleware),
``server`` (``create_app``: the FastAPI app, no Ray), ``routes/`` (one
router per area), ``app`` (the Serve deployment, ``app = SignalsIngress.bind(...)``)
and ``client`` (a small Python client). Only ``app`` imports Ray.
"""
