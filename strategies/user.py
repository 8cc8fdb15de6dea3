"""The user's own strategies: Python files in a folder, loaded and registered like the built-in ones.

A user strategy file declares a pure function and registers it exactly as a
built-in strategy module does (compare :mod:`strategies.sma_cross`)::

    from strategies import Strategy, register
    from strategies.params import Constraint, ParamSpec

    def my_cross(bars, fast, slow): ...            # float64 target per bar
    register(Strategy(name="my_cross", doc="...", fn=my_cross,
                      params=(ParamSpec(name="fast", kind="int", low=2, high=200, default=10), ...),
                      constraints=(Constraint(description="fast < slow", predicate=..., names=("fast", "slow")),),
                      min_bars=...))

``raytrader strategy new NAME`` writes a commented template and a test.

**Where.** The ``[strategies] path`` config (env ``RAYTRADER_STRATEGIES__PATH``),
default ``./user_data/strategies`` (freqtrade's habit). A folder: every
``*.py`` in it except names starting with ``_`` (helpers other files may
import) or ``test_`` (their tests); or one ``.py`` file. A missing folder
means no user strategies. File ``my_cross.py`` is imported as module
``raytrader_user_strategies.my_cross`` (so ``from raytrader_user_strategies._util
import x`` works between files, and functions pickle by reference to it).

**When.** :func:`load_user_strategies` is the single entry point.
:func:`strategies.registry.get_strategy` calls it on a name it does not
know and :func:`~strategies.registry.list_strategies` before listing, so
the CLI, the jobs, Ray Tune trials, Serve replicas and the live runner need
nothing else. Each file is imported once per process.

**On the cluster.** :func:`shipping_runtime_env` gives a Ray ``runtime_env``
that ships the files as the py_module ``raytrader_user_strategies`` and sets
``RAYTRADER_USER_STRATEGIES_SHIPPED=1``; a process that has that variable
loads the shipped copy instead of the configured folder, so a user strategy
also runs on workers of other nodes. (This module does not import ray: the
runtime env is a plain dict.)

**Errors.** :class:`UserStrategyError` (an ``InputError``: exit 2 on the
command line, 4xx over HTTP) names the file and line: a syntax error, an
exception while the file runs, a name that clashes with a built-in or with
another file's strategy, a bad parameter declaration, a file that
registers nothing, a strategy name that is not an identifier.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strategies import registry
from strategies.errors import DuplicateStrategyError, ParamSpecError, UserStrategyError

__all__ = [
    "PACKAGE", "SHIPPED_ENV", "UserStrategyFile", "UserStrategyError", "strategy_path", "strategy_files",
    "load_user_strategies", "shipping_runtime_env",
]

#: module name of the user strategy files' package (also the py_module shipped to Ray workers)
PACKAGE = registry.USER_PACKAGE
#: set to "1" in processes whose runtime env ships the user strategy files
SHIPPED_ENV = "RAYTRADER_USER_STRATEGIES_SHIPPED"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOCK = threading.RLock()


@dataclass(frozen=True)
class UserStrategyFile:
    """One loaded user file.

    Attributes:
        path: the file (absolute).
        module: its module name, ``raytrader_user_strategies.<stem>``.
        names: the strategies it registered, sorted.
    """

    path: Path
    module: str
    names: tuple[str, ...]


_LOADED: dict[Path, UserStrategyFile] = {}


def strategy_path() -> Path:
    """The user strategy folder (or file) this process reads, absolute.

    The shipped copy where :data:`SHIPPED_ENV` is set (a Ray worker or job
    driver), else the ``[strategies] path`` config.

    Raises:
        UserStrategyError: :data:`SHIPPED_ENV` is set but the shipped package is missing.
        ConfigError: a bad config file or variable.
    """
    if os.environ.get(SHIPPED_ENV):
        try:
            package = importlib.import_module(PACKAGE)
        except ImportError as exc:
            raise UserStrategyError(PACKAGE, 0, f"{SHIPPED_ENV} is set but the shipped package does not "
                                                f"import: {exc}") from None
        return Path(next(iter(package.__path__)))
    from raytrader.config import load_config  # noqa: PLC0415 - the config is read only when user files are asked for

    return load_config().strategies.path


def strategy_files(path: str | os.PathLike[str] | None = None) -> tuple[Path, ...]:
    """The strategy files under ``path`` (default :func:`strategy_path`), sorted; () if it does not exist.

    Raises:
        UserStrategyError: ``path`` is a file that is not ``*.py``.
    """
    root = _root(path)
    if root.is_file():
        if root.suffix != ".py":
            raise UserStrategyError(root, 0, "a strategy file must be a Python file ending in .py")
        return (root,)
    if not root.is_dir():
        return ()
    return tuple(sorted(p for p in root.glob("*.py") if p.is_file() and not p.name.startswith(("_", "test_"))))


def load_user_strategies(path: str | os.PathLike[str] | None = None) -> tuple[UserStrategyFile, ...]:
    """Import (once) and register every strategy file under ``path`` (default :func:`strategy_path`).

    Returns the loaded files, in file-name order.

    Raises:
        UserStrategyError: a file at fault, with its line (nothing that file
            registered stays registered; files loaded before it stay).
    """
    with _LOCK:
        return tuple(_LOADED.get(f) or _load_file(f) for f in strategy_files(path))


def shipping_runtime_env(runtime_env: dict[str, Any] | None = None,
                         path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """``runtime_env`` plus the user strategy files, for a Ray job, driver or Serve deployment.

    The files under ``path`` (default :func:`strategy_path`), helpers
    included, tests left out, are copied into a folder named
    :data:`PACKAGE` (under the temp dir, one per content hash) that goes in
    ``py_modules``; ``env_vars`` gets ``SHIPPED_ENV=1``. With no user files
    ``runtime_env`` comes back unchanged (possibly None). The given dict is
    not modified.
    """
    root = _root(path)
    if root.is_file():
        files = strategy_files(root)
    elif root.is_dir():
        files = tuple(sorted(p for p in root.glob("*.py") if p.is_file() and not p.name.startswith("test_")))
    else:
        files = ()
    if not files:
        return runtime_env
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    stage = Path(tempfile.gettempdir()) / f"raytrader-user-strategies-{digest.hexdigest()[:16]}" / PACKAGE
    if not stage.is_dir():
        tmp = stage.parent.with_name(stage.parent.name + f".{os.getpid()}.tmp") / PACKAGE
        tmp.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, tmp / f.name)
        if not (tmp / "__init__.py").exists():
            (tmp / "__init__.py").write_text('"""The user\'s strategy files, shipped by raytrader."""\n')
        try:
            tmp.parent.rename(stage.parent)
        except OSError:  # another process staged the same content first
            shutil.rmtree(tmp.parent, ignore_errors=True)
    env = dict(runtime_env or {})
    env["py_modules"] = [*env.get("py_modules", []), str(stage)]
    env["env_vars"] = {**env.get("env_vars", {}), SHIPPED_ENV: "1"}
    return env


def _root(path: str | os.PathLike[str] | None) -> Path:
    return strategy_path() if path is None else Path(path).expanduser().absolute()


def _package(folder: Path) -> None:
    """Make ``raytrader_user_strategies`` importable with ``folder`` on its search path."""
    package = sys.modules.get(PACKAGE)
    if package is None:
        if os.environ.get(SHIPPED_ENV):
            importlib.import_module(PACKAGE)
            return
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = []
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
    if str(folder) not in list(package.__path__):
        package.__path__.append(str(folder))


def _load_file(path: Path) -> UserStrategyFile:
    stem = path.stem
    if not _IDENT.match(stem):
        raise UserStrategyError(path, 0, f"the file name {stem!r} must be a Python identifier "
                                         "(letters, digits, underscores), e.g. my_strategy.py")
    module_name = f"{PACKAGE}.{stem}"
    _package(path.parent)
    present = sys.modules.get(module_name)
    if present is not None:  # imported by name already (a worker unpickling one of its functions)
        if Path(getattr(present, "__file__", "") or "").absolute() != path:
            raise UserStrategyError(path, 0, f"another strategy file, {present.__file__}, has the same name {stem!r}")
        names = tuple(sorted(n for n, s in registry._registered().items() if s.origin.startswith(f"{path}:")))
        loaded = UserStrategyFile(path=path, module=module_name, names=names)
        _LOADED[path] = loaded
        return loaded
    before = registry._registered()
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise UserStrategyError(path, 0, "cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        with registry._defining_from(path):
            spec.loader.exec_module(module)
    except Exception as exc:  # any failure of the user code becomes a named error at its line
        sys.modules.pop(module_name, None)
        registry._forget(set(registry._registered()) - set(before))
        if isinstance(exc, UserStrategyError):
            raise
        raise _named(path, exc) from None
    added = {n: s for n, s in registry._registered().items() if n not in before}
    problem = _problem(added)
    if problem is not None:
        sys.modules.pop(module_name, None)
        registry._forget(set(added))
        raise UserStrategyError(path, problem[0], problem[1])
    loaded = UserStrategyFile(path=path, module=module_name, names=tuple(sorted(added)))
    _LOADED[path] = loaded
    return loaded


def _problem(added: dict[str, registry.Strategy]) -> tuple[int, str] | None:
    if not added:
        return 0, ("registers no strategy: call register(Strategy(...)) at module level "
                   "(helpers shared by several files go in a file whose name starts with '_')")
    for name, record in added.items():
        if not _IDENT.match(name):
            line = int(record.origin.rpartition(":")[2] or 0)
            return line, f"strategy name {name!r} must be an identifier (letters, digits, underscores)"
    return None


def _named(path: Path, exc: BaseException) -> UserStrategyError:
    """``exc`` raised while ``path`` ran, as a :class:`UserStrategyError` at the innermost line of ``path``."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).absolute() == path:
        return UserStrategyError(path, exc.lineno or 0, f"syntax error: {exc.msg}")
    line = 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).absolute() == path:
            line = frame.lineno or 0
    if isinstance(exc, DuplicateStrategyError):
        reason = f"{exc}; give this strategy another name"
    elif isinstance(exc, ParamSpecError):
        reason = f"bad declaration: {exc}"
    else:
        text = " ".join(str(exc).split())
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return UserStrategyError(path, line, reason)
