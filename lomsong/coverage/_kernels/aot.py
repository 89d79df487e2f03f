"""The viewshed kernel compiled ahead of time: no Numba import at run time.

Why: a ``lomsong viewshed`` process spent 0.8-1.0 s on Numba before its first observer
(importing Numba, initialising its CPU target, which imports SciPy's BLAS, and loading the
cached machine code), more than the sweep of ten observers.  ``numba.pycc`` compiles the same
``@njit`` functions, from their one source in :mod:`lomsong.coverage._kernels.viewshed`, into a
CPython extension that imports in ~10 ms and needs only NumPy.

* Built once per machine, on first use, in a child process (~20 s, like Numba's first compile),
  into :func:`cache_dir`; the file name carries a key of the kernel source, this file, the
  Numba, NumPy and Python versions and the CPU, so any change builds a new one.  Compiled for the
  host CPU, as Numba's JIT is.
* Its Python wrappers release the GIL (pycc's do not by default: the build sets the
  ``release_gil`` flag that ``@njit(nogil=True)`` sets), so threads run observers side by side.
* Anything that fails (no C compiler, a Numba without pycc) is logged once with the reason,
  remembered in a ``.failed`` file next to where the module would be (delete it to retry), and
  the JIT kernel is used instead: the same code, the same results, a slower start.
* ``LOMSONG_AOT=0`` turns it off (the JIT kernel is used); tests run both.
* The folder is pruned when something new is written to it (:func:`prune`): builds and sweep
  geometries of other versions once unused for a week, and this version's geometries beyond
  :data:`GEOMETRY_BUDGET_BYTES`, least recently used first.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import platform
import re
import sys
import time
from functools import lru_cache
from pathlib import Path
from types import ModuleType

log = logging.getLogger("lomsong.aot")

MODULE_NAME = "lomsong_viewshed_aot"
_KERNEL_SOURCE = Path(__file__).with_name("viewshed.py")
#: Seconds a build may take before it is given up (it takes ~20 s on 2 slow cores).
BUILD_TIMEOUT_S = 600
#: Sweep geometries of the current version are kept under this many bytes in all (a 20 km
#: radius at 90 m is 3.7 MB; the largest kept file is 64 MiB), least recently used out first.
#: Geometries are keyed by the exact radius, so a batch host seeing many radii would otherwise
#: fill its disk.
GEOMETRY_BUDGET_BYTES = 256 * 2**20
#: Builds and geometries of another version (another key) are removed once unused this long:
#: an older lomsong sharing the folder keeps its files while it is in use (each use marks them).
STALE_AFTER_S = 7 * 86400
#: Left-over temporary files of an interrupted write go after an hour.
_TMP_AFTER_S = 3600
_OUR_FILES = re.compile(
    r"^(?P<kind>viewshed)-(?P<key>[0-9a-f]{20})\.[\w.-]+\.(?:so|pyd)(?:\.failed)?$"
    r"|^(?P<geo>geometry)-(?:g\d+-)?(?P<gkey>[0-9a-f]{20})-[0-9.e+-]+-[0-9.e+-]+\.npy$"
    r"|^\.(?P<tmp>geometry-(?:g\d+-)?[0-9a-f]{20}-[0-9.e+-]+-[0-9.e+-]+\.npy\.\d+\.tmp)$"
)
#: Build folders (``.build-*``) left by a killed build go once older than any build can take.
_BUILD_DIR_AFTER_S = BUILD_TIMEOUT_S + 3600


def cache_dir() -> Path:
    """Where built modules live: ``$LOMSONG_CACHE_DIR``, else beside Numba's cache
    (``$NUMBA_CACHE_DIR/lomsong-aot``), else ``$XDG_CACHE_HOME/lomsong`` (``~/.cache/lomsong``)."""
    if os.environ.get("LOMSONG_CACHE_DIR"):
        return Path(os.environ["LOMSONG_CACHE_DIR"])
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]) / "lomsong-aot"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lomsong"


def _cpu_fingerprint() -> str:
    """The CPU model and feature flags (Linux), or what ``platform`` knows elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            wanted = {}
            for line in fh:
                k, _, v = line.partition(":")
                k = k.strip()
                if k in ("model name", "flags", "Features", "CPU part") and k not in wanted:
                    wanted[k] = v.strip()
                if not line.strip() and wanted:
                    break  # the first processor is enough
        return repr(sorted(wanted.items()))
    except OSError:
        return platform.processor()


def _numba_version_text() -> bytes:
    """Numba's version file, read without importing Numba (an import costs ~0.3 s)."""
    spec = importlib.util.find_spec("numba")
    if spec is None or spec.origin is None:
        raise ImportError("numba is not installed")
    return Path(spec.origin).with_name("_version.py").read_bytes()


@lru_cache(maxsize=1)
def module_key() -> str:
    """What the built module depends on, hashed: change any of it and a new one is built."""
    import numpy as np

    h = hashlib.sha256()
    for part in (_KERNEL_SOURCE.read_bytes(), Path(__file__).read_bytes(), _numba_version_text(),
                 np.__version__.encode(), sys.implementation.cache_tag.encode(),
                 platform.machine().encode(), _cpu_fingerprint().encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:20]


def module_path(key: str | None = None) -> Path:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return cache_dir() / f"viewshed-{key or module_key()}{suffix}"


def geometry_path(cell_m: float, radius_m: float) -> Path:
    """Where the sorted sweep geometry for this cell size and radius is kept (``.npy``)."""
    # "g1": the packing in lomsong.coverage.viewshed.sweep_geometry; bump it when that changes.
    return cache_dir() / f"geometry-g1-{module_key()}-{cell_m!r}-{radius_m!r}.npy"


def mark_used(path: Path) -> None:
    """Record a use of a cache file (its modification time), for :func:`prune`."""
    try:
        os.utime(path)
    except OSError:
        pass  # read-only cache: nothing is pruned there either


def prune(now: float | None = None, budget_bytes: int | None = None) -> list[Path]:
    """Remove what the cache folder no longer needs; returns what was removed.

    Only lomsong's own names are touched (compiled kernels ``viewshed-<key>.<tag>.so``, their
    ``.failed`` markers, sweep geometries ``geometry-g1-<key>-<cell>-<radius>.npy``, their
    temporary files, and ``.build-*`` folders of killed builds).  A geometry kept in a
    process's memory is marked used on its first read only.  Files
    of another key go once unused for :data:`STALE_AFTER_S`; this key's geometries beyond
    ``budget_bytes`` (default :data:`GEOMETRY_BUDGET_BYTES`) go least recently used first.
    Files another process removes first, or cannot be removed, are skipped.
    """
    now = time.time() if now is None else now
    budget = GEOMETRY_BUDGET_BYTES if budget_bytes is None else budget_bytes
    try:
        folder = cache_dir()
        current = module_key()
        entries = list(os.scandir(folder))
    except (OSError, ImportError):
        return []
    removed: list[Path] = []
    geometries: list[tuple[float, int, Path]] = []
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        age = now - st.st_mtime
        path = Path(entry.path)
        if entry.name.startswith(".build-") and entry.is_dir(follow_symlinks=False):
            if age > _BUILD_DIR_AFTER_S:
                import shutil

                shutil.rmtree(path, ignore_errors=True)
                if not path.exists():
                    removed.append(path)
            continue
        m = _OUR_FILES.match(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        key = m.group("key") or m.group("gkey")
        if m.group("tmp"):
            stale = age > _TMP_AFTER_S
        elif key != current:
            stale = age > STALE_AFTER_S
        else:
            if m.group("geo"):
                geometries.append((st.st_mtime, st.st_size, path))
            stale = False
        if stale:
            removed += _unlink(path)
    geometries.sort(reverse=True)  # most recently used first
    total = 0
    for _, size, path in geometries:
        total += size
        if total > budget:
            removed += _unlink(path)
    return removed


def _unlink(path: Path) -> list[Path]:
    try:
        path.unlink()
    except OSError:
        return []
    return [path]


def _load(path: Path) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(MODULE_NAME, str(path))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


_loaded: dict[str, ModuleType | None] = {}


def load_viewshed() -> ModuleType | None:
    """The compiled viewshed module (``disc_events``, ``viewshed_sweep``), built on first use.

    None when ``LOMSONG_AOT=0`` or when it cannot be built (logged; a failed build is
    remembered in a ``.failed`` file).  Cached per process and per machine.
    """
    if os.environ.get("LOMSONG_AOT", "1").strip() == "0":
        return None
    try:
        path = module_path()
    except (OSError, ImportError) as exc:
        log.warning("compiled viewshed kernel unavailable (%s); using Numba's JIT", exc)
        return None
    key = str(path)
    if key in _loaded:
        return _loaded[key]
    module = None
    failed = path.with_name(path.name + ".failed")
    if not path.exists() and not failed.exists():
        try:
            _build_in_child(path, failed)
        except OSError as exc:  # e.g. a read-only cache folder
            log.warning("cannot build the compiled viewshed kernel in %s (%s); using Numba's "
                        "JIT (set LOMSONG_CACHE_DIR to a writable folder)", path.parent, exc)
            _loaded[key] = None
            return None
    if path.exists():
        try:
            module = _load(path)
            mark_used(path)
        except ImportError as exc:  # a damaged or foreign file: say so, fall back
            log.warning("could not load %s (%s); using Numba's JIT", path, exc)
    elif failed.exists():
        mark_used(failed)  # kept while in use: no weekly retry of a build that cannot work
        log.warning("the compiled viewshed kernel could not be built (see %s; delete it to "
                    "retry); using Numba's JIT: same results, ~1 s slower start", failed)
    _loaded[key] = module
    return module


def _build_command(output_dir: str, file_name: str) -> list[str]:
    return [sys.executable, "-m", "lomsong.coverage._kernels.aot", output_dir, file_name]


def _build_in_child(path: Path, failed: Path) -> None:
    """Build the module in a child process (Numba imported there, not here); atomic publish."""
    import subprocess
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("compiling the viewshed kernel for this machine, once (~20 s): %s", path)
    src_root = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src_root, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        try:
            proc = subprocess.run(_build_command(tmp, path.name), capture_output=True,
                                  text=True, env=env, timeout=BUILD_TIMEOUT_S)
            ok = proc.returncode == 0 and (Path(tmp) / path.name).exists()
            detail = (proc.stderr or proc.stdout or "").strip()[-4000:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if ok:
            os.replace(Path(tmp) / path.name, path)
            prune()
            return
    failed.write_text(f"building {path.name} failed:\n{detail}\n", encoding="utf-8")


def build(output_dir: str, file_name: str) -> None:
    """Compile the viewshed kernels with ``numba.pycc`` into ``output_dir/file_name``."""
    import warnings

    import llvmlite.binding as llvm
    from numba import types as nt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc's pending-deprecation notice
        import numba.pycc.compiler as pycc_compiler
        from numba.pycc import CC

    from lomsong.coverage._kernels import viewshed as k

    class _ReleaseGilFlags(pycc_compiler.Flags):
        """pycc compiles with default flags; nogil=True's flag makes its wrappers release
        the GIL around the native call."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.release_gil = True

    cc = CC(MODULE_NAME)
    cc.output_dir = output_dir
    cc.output_file = file_name
    cc.target_cpu = llvm.get_host_cpu_name()
    cc.verbose = False
    i8, f8 = nt.int64, nt.float64
    cc.export("viewshed_sweep", nt.uint8[:, :](
        nt.float32[:, ::1], i8, i8, f8, f8, f8, f8, i8, i8, i8, i8, nt.int64[::1],
        nt.int64[::1], nt.int64[::1], i8))(k.viewshed_sweep.py_func)
    cc.export("disc_events", nt.Tuple((nt.float64[::1], nt.int64[::1], nt.int8[::1],
                                       nt.int64[::1], i8))(f8, f8))(k.disc_events.py_func)
    original = pycc_compiler.Flags
    pycc_compiler.Flags = _ReleaseGilFlags
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc.compile()
    finally:
        pycc_compiler.Flags = original


if __name__ == "__main__":
    build(sys.argv[1], sys.argv[2])
