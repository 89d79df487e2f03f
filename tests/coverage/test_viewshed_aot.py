"""The ahead-of-time compiled viewshed kernel and the Typer-free ``lomsong viewshed`` start.

The compiled module must give the JIT kernel's results bit for bit (the JIT kernel is itself
checked against the slow reference in test_viewshed.py, under both backends), fall back to the
JIT kernel cleanly when it cannot be built, and keep Numba, Typer and boto3 out of a
``lomsong viewshed`` process.  Speed is the benchmark's business (benchmarks/bench_viewshed.py).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from lomsong.coverage import viewshed as vs
from lomsong.coverage._kernels import aot
from lomsong.coverage._kernels import viewshed as jit
from lomsong.coverage.models import DemGrid

CRS = "EPSG:32648"


@pytest.fixture(scope="session")
def compiled():
    """The compiled module, built once into the usual cache (CI: .numba-cache/lomsong-aot)."""
    module = aot.load_viewshed()
    if module is None:
        pytest.skip("the ahead-of-time kernel could not be built here (no C compiler?)")
    return module


def rough_dem(rows=90, cols=110, seed=3):
    rng = np.random.default_rng(seed)
    base = rng.random((rows, cols)) * 300.0
    # Smooth hills plus noise: long sight lines and many partial obstacles.
    yy, xx = np.mgrid[:rows, :cols]
    hills = 400.0 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    return (base + hills).astype(np.float32)


@pytest.mark.compiler
def test_compiled_disc_events_equal_the_jit_ones(compiled):
    for cell_m, radius_m in ((90.0, 2000.0), (30.0, 455.0), (7.5, 100.0)):
        got = compiled.disc_events(cell_m, radius_m)
        want = jit.disc_events(cell_m, radius_m)
        for g, w in zip(got[:4], want[:4], strict=True):
            assert g.dtype == w.dtype and np.array_equal(g, w)
        assert got[4] == want[4]


@pytest.mark.compiler
@pytest.mark.parametrize("curvature", [0.0, 0.75])
def test_compiled_sweep_equals_the_jit_sweep_bit_for_bit(compiled, curvature):
    elev = rough_dem()
    rows, cols = elev.shape
    cell_m, radius_m = 90.0, 2700.0
    curv = curvature / (2.0 * 6378137.0)
    geo = vs.sweep_geometry(cell_m, radius_m)
    rc = geo.radius_cells
    # Observers in the middle, on every edge and in the corners (edge corners are NaN there).
    cells = [(45, 55), (0, 0), (0, cols - 1), (rows - 1, 0), (rows - 1, cols - 1), (0, 50),
             (rows - 1, 60), (40, 0), (30, cols - 1), (2, 3)]
    for r, c in cells:
        r0, c0 = max(r - rc, 0), max(c - rc, 0)
        r1, c1 = min(r + rc + 1, rows), min(c + rc + 1, cols)
        args = (elev, r, c, 35.0, 1.5, cell_m, curv, r0, c0, r1 - r0, c1 - c0, geo.events,
                geo.octant_start, geo.start, rc)
        got = compiled.viewshed_sweep(*args)
        want = jit.viewshed_sweep(*args)
        assert got.dtype == np.uint8 and got.shape == want.shape
        assert np.array_equal(got, want), (r, c, np.argwhere(got != want)[:5])
        assert 0 < int((got == 255).sum()) < got.size  # a real mix, not a trivial answer


@pytest.mark.compiler
def test_threads_share_the_compiled_kernel(compiled, monkeypatch):
    # The wrappers release the GIL; several threads at once must still give exact answers.
    elev = rough_dem(120, 120, seed=9)
    dem = DemGrid(elevation_m=elev, transform=Affine(90.0, 0, 500000.0, 0, -90.0, 2400000.0),
                  crs=CRS, source="rough.tif")
    pts = [dem.xy(r, c) for r, c in ((10, 10), (60, 60), (100, 30), (5, 115), (119, 0))]
    monkeypatch.setattr(vs, "sweep_kernels", lambda: vs.SweepKernels(
        compiled.disc_events, compiled.viewshed_sweep, True))
    threaded = vs.viewshed_many(dem, pts, observer_height_m=30.0, radius_m=4000.0, workers=3)
    monkeypatch.setattr(vs, "sweep_kernels", lambda: vs.SweepKernels(
        jit.disc_events, jit.viewshed_sweep, False))
    single = vs.viewshed_many(dem, pts, observer_height_m=30.0, radius_m=4000.0, workers=1)
    for a, b in zip(threaded, single, strict=True):
        assert np.array_equal(a.visible, b.visible)


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty cache folder and a fresh loader state; the real state is restored after."""
    monkeypatch.setenv("LOMSONG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(aot, "_loaded", {})
    return tmp_path / "cache"


def test_a_failed_build_falls_back_to_the_jit_kernel_once(private_cache, monkeypatch, caplog):
    calls = []

    def failing(output_dir, file_name):
        calls.append(file_name)
        return [sys.executable, "-c", "import sys; sys.exit('error: no C compiler here')"]

    monkeypatch.setattr(aot, "_build_command", failing)
    with caplog.at_level(logging.WARNING, logger="lomsong.aot"):
        assert aot.load_viewshed() is None
    failed = [p for p in private_cache.iterdir() if p.name.endswith(".failed")]
    assert len(failed) == 1 and "no C compiler here" in failed[0].read_text(encoding="utf-8")
    assert "could not be built" in caplog.text and "delete it to retry" in caplog.text
    assert not [p for p in private_cache.iterdir() if p.suffix == ".so"]
    # A new process (fresh loader state) does not try again while the .failed file is there.
    monkeypatch.setattr(aot, "_loaded", {})
    assert aot.load_viewshed() is None
    assert len(calls) == 1
    # ... and the viewshed still works, through Numba's JIT.
    monkeypatch.setattr(vs, "sweep_kernels", vs.sweep_kernels.__wrapped__)
    assert vs.sweep_kernels().ahead_of_time is False
    dem = DemGrid(elevation_m=np.zeros((21, 21), np.float32),
                  transform=Affine(30.0, 0, 500000.0, 0, -30.0, 2400000.0), crs=CRS)
    res = vs.viewshed(dem, *dem.xy(10, 10), observer_height_m=10.0, radius_m=300.0)
    assert (res.visible[vs.in_radius_mask(res, 30.0)] == 255).all()


def test_lomsong_aot_0_turns_it_off(private_cache, monkeypatch):
    monkeypatch.setenv("LOMSONG_AOT", "0")
    monkeypatch.setattr(aot, "_build_command", lambda *a: pytest.fail("must not build"))
    assert aot.load_viewshed() is None
    assert not private_cache.exists()


def test_the_module_key_follows_the_kernel_source(tmp_path, monkeypatch):
    src = tmp_path / "viewshed.py"
    src.write_bytes(aot._KERNEL_SOURCE.read_bytes())
    monkeypatch.setattr(aot, "_KERNEL_SOURCE", src)
    aot.module_key.cache_clear()
    try:
        before = aot.module_key()
        src.write_bytes(src.read_bytes() + b"\n# changed\n")
        aot.module_key.cache_clear()
        assert aot.module_key() != before
        assert aot.module_path(before).name.startswith(f"viewshed-{before}")
    finally:
        aot.module_key.cache_clear()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LOMSONG_CACHE_DIR", str(tmp_path / "a"))
    assert aot.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("LOMSONG_CACHE_DIR")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    assert aot.cache_dir() == tmp_path / "nb" / "lomsong-aot"


def _small_dem_tif(tmp_path: Path) -> Path:
    import rasterio

    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", height=60, width=70, count=1,
                       dtype="float32", crs=CRS,
                       transform=Affine(90.0, 0, 500000.0, 0, -90.0, 2400000.0)) as dst:
        dst.write(rough_dem(60, 70, seed=4), 1)
    return path


@pytest.mark.compiler
def test_a_viewshed_process_imports_neither_numba_nor_typer(compiled, tmp_path):
    dem = _small_dem_tif(tmp_path)
    obs = tmp_path / "obs.csv"
    obs.write_text("id,x,y\na,502000,2397000\nb,505000,2396000\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from lomsong.cli import _fast_command\n"
        "from lomsong.commands.viewshed import run\n"
        f"name, v, q, rest = _fast_command(['-q', 'viewshed', {str(dem)!r}, '--observers', "
        f"{str(obs)!r}, '--radius', '2000', '-o', {str(tmp_path / 'out')!r}])\n"
        "run(rest, own_process=True)\n"
        "print(sorted(m for m in ('numba', 'typer', 'pydantic', 'boto3', 'scipy')"
        " if sys.modules.get(m) is not None))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.tif", "b.tif"]


def test_viewshed_usage_errors_exit_2_and_help_exits_0(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "lomsong.cli", "viewshed", "dem.tif", "-ox", "1",
                          "-oy", "2", "--no-such-flag", "-o", str(tmp_path / "v.tif")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in bad.stderr
    helped = subprocess.run([sys.executable, "-m", "lomsong.cli", "-q", "viewshed", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0
    assert "--observers" in helped.stdout and "--curvature-coeff" in helped.stdout
    threads = subprocess.run([sys.executable, "-m", "lomsong.cli", "viewshed", "d.tif", "-ox",
                              "1", "-oy", "2", "--threads", "0", "-o", str(tmp_path / "t.tif")],
                             capture_output=True, text=True, timeout=120)
    assert threads.returncode == 2 and "--threads 0: must be 1 or more" in threads.stderr


@pytest.mark.compiler
def test_large_sweep_geometries_are_kept_on_disk_and_read_back(compiled, tmp_path, monkeypatch):
    monkeypatch.setenv("LOMSONG_CACHE_DIR", str(tmp_path))  # what a write prunes
    monkeypatch.setattr(vs, "sweep_kernels", lambda: vs.SweepKernels(
        compiled.disc_events, compiled.viewshed_sweep, True))
    monkeypatch.setattr(aot, "geometry_path",
                        lambda cell_m, radius_m: tmp_path / f"g-{cell_m!r}-{radius_m!r}.npy")
    vs.sweep_geometry.cache_clear()
    try:
        built = vs.sweep_geometry(90.0, 20000.0)  # 3.7 MB: kept
        assert (tmp_path / "g-90.0-20000.0.npy").exists()
        vs.sweep_geometry(90.0, 900.0)  # a few kB: rebuilt each time, no file
        assert not (tmp_path / "g-90.0-900.0.npy").exists()
        vs.sweep_geometry.cache_clear()
        monkeypatch.setattr(vs, "sweep_kernels", lambda: vs.SweepKernels(
            lambda *a: pytest.fail("must read the file, not rebuild"), compiled.viewshed_sweep,
            True))
        read = vs.sweep_geometry(90.0, 20000.0)
        for a, b in ((read.events, built.events), (read.octant_start, built.octant_start),
                     (read.start, built.start)):
            assert a.dtype == np.int64 and np.array_equal(a, b) and not a.flags.writeable
        assert read.radius_cells == built.radius_cells
    finally:
        vs.sweep_geometry.cache_clear()


def test_an_unwritable_cache_falls_back_to_the_jit_kernel(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("LOMSONG_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    monkeypatch.setattr(aot, "_loaded", {})
    monkeypatch.setattr(aot, "_build_command", lambda *a: pytest.fail("must not get this far"))
    with caplog.at_level(logging.WARNING, logger="lomsong.aot"):
        assert aot.load_viewshed() is None
    assert "LOMSONG_CACHE_DIR" in caplog.text


@pytest.mark.compiler
def test_a_damaged_geometry_file_is_rebuilt(compiled, tmp_path, monkeypatch):
    monkeypatch.setenv("LOMSONG_CACHE_DIR", str(tmp_path))  # what a write prunes
    monkeypatch.setattr(vs, "sweep_kernels", lambda: vs.SweepKernels(
        compiled.disc_events, compiled.viewshed_sweep, True))
    path = tmp_path / "g.npy"
    monkeypatch.setattr(aot, "geometry_path", lambda cell_m, radius_m: path)
    vs.sweep_geometry.cache_clear()
    try:
        good = vs.sweep_geometry(90.0, 20000.0)
        packed = np.load(path)
        np.save(path, packed[:-5])  # a valid .npy whose events were cut short
        vs.sweep_geometry.cache_clear()
        again = vs.sweep_geometry(90.0, 20000.0)
        assert np.array_equal(again.events, good.events)
        assert np.array_equal(np.load(path), packed)  # and written again whole
    finally:
        vs.sweep_geometry.cache_clear()


def _cache_file(folder: Path, name: str, size: int, age_s: float, now: float) -> Path:
    path = folder / name
    path.write_bytes(b"\0" * size)
    import os

    os.utime(path, (now - age_s, now - age_s))
    return path


def test_prune_keeps_this_versions_files_and_recent_geometries_only(private_cache):
    import time

    private_cache.mkdir(parents=True)
    now = time.time()
    key = aot.module_key()
    other = "0123456789abcdef0123"
    assert other != key
    day = 86400.0
    so = ".cpython-311-x86_64-linux-gnu.so"

    def f(name: str, size: int = 10, age: float = 0.0) -> Path:
        return _cache_file(private_cache, name, size, age, now)

    keep = [
        f(aot.module_path().name, age=30 * day),  # this version's kernel, however old
        f(aot.module_path().name + ".failed", age=30 * day),  # its marker: delete to retry
        f(f"viewshed-{other}{so}", age=2 * day),  # another version's, used this week
        f(f"geometry-g1-{other}-90.0-20000.0.npy", age=1 * day),
        f(f"geometry-g1-{key}-90.0-20000.0.npy", size=400, age=0.0),  # most recently used
        f(f"geometry-g1-{key}-90.0-15000.0.npy", size=400, age=60.0),
        f("notes.txt", age=300 * day),  # not ours
        f(f"viewshed-{other}-my-output.tif", age=300 * day),  # not ours either
        f(f"geometry-{other}-notes.npy", age=300 * day),
        f(f".geometry-g1-{key}-30.0-500.0.npy.77.tmp", age=60.0),  # a write in progress
    ]
    gone = [
        f(f"viewshed-{other}{so}.failed", age=8 * day),
        f(f"geometry-{other}-1.0-0.3.npy", age=9 * day),  # an older naming, other version
        f(f"geometry-g1-{key}-90.0-9000.0.npy", size=400, age=120.0),  # over the budget
        f(f"geometry-g1-{key}-90.0-8000.0.npy", size=400, age=3600.0),
        f(f".geometry-g1-{key}-30.0-400.0.npy.12.tmp", age=2 * 3600.0),  # left by a crash
    ]
    import os

    young_build = private_cache / ".build-young"
    old_build = private_cache / ".build-old"
    for folder, age in ((young_build, 600.0), (old_build, aot.BUILD_TIMEOUT_S + 7200.0)):
        folder.mkdir()
        (folder / "part.o").write_bytes(b"x")
        os.utime(folder, (now - age, now - age))
    keep.append(young_build)
    gone.append(old_build)
    removed = aot.prune(now=now, budget_bytes=900)
    assert sorted(removed) == sorted(gone)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)
    assert aot.prune(now=now, budget_bytes=900) == []  # nothing more to do


def test_reading_a_geometry_marks_it_used_so_pruning_keeps_it(compiled, private_cache, monkeypatch):
    import os
    import time

    private_cache.mkdir(parents=True)  # where the compiled kernel would be
    monkeypatch.setattr(vs, "sweep_kernels", lambda: vs.SweepKernels(
        compiled.disc_events, compiled.viewshed_sweep, True))
    vs.sweep_geometry.cache_clear()
    try:
        vs.sweep_geometry(90.0, 20000.0)
        path = aot.geometry_path(90.0, 20000.0)
        old = time.time() - 3600.0
        os.utime(path, (old, old))
        vs.sweep_geometry.cache_clear()
        vs.sweep_geometry(90.0, 20000.0)  # read back: marked used now
        assert path.stat().st_mtime > old + 1000.0
        # a budget smaller than one file leaves nothing; the next use rebuilds it
        assert aot.prune(budget_bytes=1) == [path]
        vs.sweep_geometry.cache_clear()
        vs.sweep_geometry(90.0, 20000.0)
        assert path.exists()
    finally:
        vs.sweep_geometry.cache_clear()
