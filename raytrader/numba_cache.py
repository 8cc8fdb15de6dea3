"""Numba's on-disk cache for unpacked copies of the installed package (Ray ``working_dir`` / ``py_modules``).

Numba keeps a ``cache=True`` function's machine code in the ``__pycache__``
beside its source file. A Ray job submitted with ``--working-dir .`` runs
from an unpacked copy of the files in a new folder (Ray's runtime-env
resources), whose ``__pycache__`` is empty (``.gitignore`` keeps it out of the
upload): every job, and every worker node, compiled every kernel it used
again (measured: README "Ray jobs and numba's cache").

:class:`InstalledCopyLocator` gives a function defined in such a copy the
cache of the *installed* raytrader file it copies, when the two files are
byte-identical (numba's own freshness stamp is the file's content hash, so
the cache entries are valid for both). A copy that differs (a user's edit)
gets no answer here and falls through to numba's own locators (its own
``__pycache__``), so an edited copy never overwrites the installed cache.
A function of the installed files themselves also falls through (numba's
in-tree cache, as without this locator).

It is enabled for every process of a raytrader cluster by
``NUMBA_CACHE_LOCATOR_CLASSES`` (set by ``raytrader up`` / ``join``, see
:data:`cluster.rayenv.NUMBA_ENV`); numba imports this module only when it
caches a function. Nothing here imports ray.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from numba.core.caching import InTreeCacheLocator

__all__ = ["InstalledCopyLocator", "installed_roots", "installed_twin"]

_DISTRIBUTION = "raytrader"


@functools.lru_cache(maxsize=1)
def installed_roots() -> tuple[Path, ...]:
    """The folders the installed raytrader's packages live in: the project folder of an editable install
    (``pip install -e``), else its ``site-packages``; () when raytrader is not installed."""
    roots: list[Path] = []
    for dist in importlib.metadata.distributions(name=_DISTRIBUTION):
        try:
            direct = json.loads(dist.read_text("direct_url.json") or "{}")
        except ValueError:
            direct = {}
        url = urlparse(str(direct.get("url", "")))
        if url.scheme == "file" and direct.get("dir_info", {}).get("editable"):
            roots.append(Path(unquote(url.path)))
        roots.append(Path(str(dist.locate_file(""))))
    return tuple(dict.fromkeys(r.resolve() for r in roots if r.is_dir()))


@functools.lru_cache(maxsize=4096)
def _digest(path: str, mtime_ns: int, size: int) -> bytes:
    """The content hash of ``path`` (memoised on its mtime and size, as numba's own stamp is)."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).digest()


def _same_bytes(a: Path, b: Path) -> bool:
    sa, sb = a.stat(), b.stat()
    return sa.st_size == sb.st_size and _digest(str(a), sa.st_mtime_ns, sa.st_size) == _digest(
        str(b), sb.st_mtime_ns, sb.st_size)


def installed_twin(py_file: str, module: str) -> Path | None:
    """The installed raytrader file that ``py_file`` (module ``module``) is a byte-identical copy of, or None.

    None also for the installed file itself, for a module raytrader does not
    ship, and for a copy whose bytes differ.
    """
    source = Path(py_file)
    parts = module.split(".")
    if source.name == "__init__.py":
        parts.append("__init__")
    relative = Path(*parts[:-1], parts[-1] + ".py")
    if not module or source.parts[-len(relative.parts):] != relative.parts:
        return None
    for root in installed_roots():
        twin = root / relative
        try:
            if twin.is_file() and not os.path.samefile(twin, source) and _same_bytes(twin, source):
                return twin
        except OSError:
            continue
    return None


class InstalledCopyLocator(InTreeCacheLocator):
    """Numba cache locator: a byte-identical copy of an installed raytrader file shares that file's
    ``__pycache__`` (see the module doc). The freshness stamp is numba's own (the copy's content hash, equal to
    the installed file's)."""

    def __init__(self, py_func, py_file: str, twin: Path) -> None:
        super().__init__(py_func, py_file)
        self._cache_path = str(twin.parent / "__pycache__")

    @classmethod
    def from_function(cls, py_func, py_file: str) -> InstalledCopyLocator | None:
        try:
            twin = installed_twin(py_file, getattr(py_func, "__module__", "") or "")
        except (OSError, ValueError, importlib.metadata.PackageNotFoundError):
            return None
        if twin is None:
            return None
        self = cls(py_func, py_file, twin)
        try:
            self.ensure_cache_path()
        except OSError:  # the installed folder is read-only here: numba's own locators decide
            return None
        return self
