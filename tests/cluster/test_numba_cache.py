"""Numba's cache for unpacked copies of our files (raytrader.numba_cache, enabled on the cluster by cluster.rayenv).

A Ray job with ``--working-dir`` runs from a copy of the files in a new
folder. These tests prove, without Ray: a byte-identical copy is matched to
the installed file, an edited copy and the installed file itself are not; and
in a fresh interpreter with the cluster's ``NUMBA_CACHE_LOCATOR_CLASSES``,
numba's own dispatcher gives a copied ``cache=True`` kernel the installed
file's ``__pycache__`` (and, without it, the copy's own).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cluster.rayenv import NUMBA_ENV, ray_env
from raytrader.config import load_config
from raytrader.numba_cache import installed_roots, installed_twin

REPO = Path(__file__).resolve().parents[2]
#: a small package with a ``cache=True`` kernel (``risk.var._projected_normals_kernel()``) and few imports
FILES = ("__init__.py", "errors.py", "var.py")


def _copy_risk(root: Path) -> Path:
    (root / "risk").mkdir(parents=True)
    for name in FILES:
        shutil.copy2(REPO / "risk" / name, root / "risk" / name)
    return root / "risk"


def test_a_byte_identical_copy_is_matched_to_the_installed_file_and_nothing_else(tmp_path: Path) -> None:
    assert REPO.resolve() in installed_roots()  # the editable install of this checkout
    same = _copy_risk(tmp_path / "same")
    assert installed_twin(str(same / "var.py"), "risk.var") == REPO.resolve() / "risk" / "var.py"
    assert installed_twin(str(same / "__init__.py"), "risk") == REPO.resolve() / "risk" / "__init__.py"
    assert installed_twin(str(REPO / "risk" / "var.py"), "risk.var") is None  # the installed file itself
    assert installed_twin(str(same / "var.py"), "risk.errors") is None  # the module does not name this file
    edited = _copy_risk(tmp_path / "edited")
    with open(edited / "var.py", "a") as fh:
        fh.write("# a user's edit\n")
    assert installed_twin(str(edited / "var.py"), "risk.var") is None
    (tmp_path / "other" / "mine").mkdir(parents=True)
    (tmp_path / "other" / "mine" / "var.py").write_text("x = 1\n")
    assert installed_twin(str(tmp_path / "other" / "mine" / "var.py"), "mine.var") is None  # not raytrader's


_PROBE = """import json, risk.var as v
k = v._projected_normals_kernel()
print(json.dumps({"file": k.py_func.__code__.co_filename, "cache": k._cache._cache_path}))
"""


def _probe(root: Path, locators: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_LOCATOR_CLASSES"}
    env["PYTHONPATH"] = str(root)  # first on sys.path, as Ray puts a job's working dir
    if locators is not None:
        env["NUMBA_CACHE_LOCATOR_CLASSES"] = locators
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_clusters_numba_setting_gives_a_copy_the_installed_cache(tmp_path: Path) -> None:
    env = ray_env(load_config())
    assert env["NUMBA_CACHE_LOCATOR_CLASSES"] == NUMBA_ENV["NUMBA_CACHE_LOCATOR_CLASSES"]  # every cluster process
    copy = _copy_risk(tmp_path / "job")
    shared = _probe(tmp_path / "job", env["NUMBA_CACHE_LOCATOR_CLASSES"])
    assert shared == {"file": str(copy / "var.py"), "cache": str(REPO.resolve() / "risk" / "__pycache__")}
    own = _probe(tmp_path / "job", None)  # numba's defaults: the copy's own, empty __pycache__
    assert own == {"file": str(copy / "var.py"), "cache": str(copy / "__pycache__")}
