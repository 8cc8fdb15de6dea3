"""This CLI process as a Ray driver on the cluster ``raytrader up`` started.

Every command that runs work on the cluster from the CLI process (sweep,
walk-forward, Monte Carlo, a large Monte Carlo VaR, RL training, the
trading deployment's control calls) attaches through :func:`ray_driver`:
one rule for finding the cluster, shipping the user's strategy files and
keeping Ray's log lines off the terminal.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from cluster.lifecycle import live_state
from raytrader.config import Config
from raytrader.errors import InputError

__all__ = ["ray_driver", "quiet_ray"]


def quiet_ray(verbose: bool) -> None:
    """Keep Ray's INFO and WARNING lines (``Connecting to existing Ray cluster``, Tune's state writes, the
    core worker's C++ warnings) off the user's terminal unless ``-v``; errors still show."""
    if verbose:
        return
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def ray_driver(config: Config, verbose: bool = False) -> Iterator[None]:
    """Attach to the running raytrader cluster unless this process already is a Ray driver.

    Raises:
        InputError: the cluster is not running (exit 2: start it with ``raytrader up``).
    """
    import ray  # noqa: PLC0415 - late: keeps the CLI and --help fast

    if ray.is_initialized():
        yield
        return
    state, ray_ok, _ = live_state(config)
    if not (state and state.ray and ray_ok):
        raise InputError("the cluster is not running: start it with `raytrader up`")
    from strategies.user import shipping_runtime_env  # noqa: PLC0415 - late: keeps the CLI and --help fast

    quiet_ray(verbose)
    # the user's strategy files travel to every worker (Tune trials, fold and path tasks) on any node
    ray.init(address=state.ray.gcs_address, log_to_driver=False, runtime_env=shipping_runtime_env(),
             logging_level=logging.INFO if verbose else logging.ERROR)
    quiet_ray(verbose)  # ray.init configures the "ray" logger again
    try:
        yield
    finally:
        ray.shutdown()
