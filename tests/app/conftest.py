"""Fixtures for the service tests: a tiny real run, one store per session, a live server.

The tiny run: a 90 x 90 cell window of the bundled sample DEM (real SRTM terrain near Phú Lương,
about 7.8 x 8.3 km), one Viettel site in the south-west, one MobiFone site in the north-east,
five villages (two next to a site, three more than ``radius_m`` from every tower, so lõm sóng
for certain), and a fiber line.  It computes in seconds, so upload tests can recompute.

``live_server`` (session) runs ``lomsong serve`` in a real uvicorn process on a free loopback
port and yields ``(base_url, planner_key)``; the map's browser test uses it too.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lomsong.coverage.gaps import GapRecord, ServiceMark, summarize

#: Window of the sample DEM (EPSG:4326, 3 arc-seconds): rows, cols of its top-left corner.
WINDOW = (90, 405, 90, 90)
RADIUS_M = 3000.0

SITES = {
    "VIE-A": ("Viettel", 105.770, 21.865),
    "MOB-A": ("MobiFone", 105.820, 21.910),
}
VILLAGES = [
    # id, name, commune, population, lon, lat
    ("v-near-vie", "Thôn Gần Viettel", "Xã Phú Đình", 420, 105.7722, 21.8664),
    ("v-near-mob", "Bản Gần MobiFone", "Xã Bình Thành", 310, 105.8180, 21.9088),
    ("v-far-se", "Bản Nà Đông", "Xã Bình Thành", 150, 105.8200, 21.8560),
    ("v-far-nw", "=Bản Khuôn", "Xã Phú Đình", 95, 105.7660, 21.9180),
    ("v-mid", "Thôn Giữa", "Xã Phú Đình", 230, 105.7950, 21.8880),
]
LOM_SONG = {"v-far-se", "v-far-nw", "v-mid"}
TOWER_HEADER = ["radio", "carrier", "site_id", "cell", "lon", "lat", "height_m", "eirp_dbm",
                "illustrative"]


def tower_csv(rows: list[tuple]) -> bytes:
    """Tower CSV bytes from (radio, carrier, site_id, cell, lon, lat) rows (30 m, default EIRP)."""
    import io

    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TOWER_HEADER)
    for radio, carrier, site, cell, lon, lat in rows:
        w.writerow([radio, carrier, site, cell, f"{lon:.6f}", f"{lat:.6f}", "30", "", "1"])
    return buf.getvalue().encode("utf-8")


#: Cell numbers of the base run (OpenCelliD's ``cell`` is numeric).
BASE_CELLS = {"Viettel": (10011, 20011), "MobiFone": (30011,)}


def base_tower_rows() -> list[tuple]:
    rows = []
    for site, (carrier, lon, lat) in SITES.items():
        rows.append(("LTE", carrier, site, BASE_CELLS[carrier][0], lon, lat))
        if carrier == "Viettel":
            rows.append(("UMTS", carrier, site, BASE_CELLS[carrier][1], lon, lat))
    return rows


def mobifone_everywhere() -> bytes:
    """An upload: MobiFone 4G sites at every village (each village then MobiFone-covered)."""
    return tower_csv([("LTE", "MobiFone", f"MOB-{v[0]}", 40000 + i, v[4], v[5])
                      for i, v in enumerate(VILLAGES)])


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
    """The tiny run's RunConfig (files in a session temp folder)."""
    import rasterio
    from rasterio.windows import Window

    from lomsong.pipeline import RunConfig, sample_dir

    d = tmp_path_factory.mktemp("tiny_inputs")
    r0, c0, h, w = WINDOW
    with rasterio.open(sample_dir() / "dem.tif") as src:
        win = Window(c0, r0, w, h)
        data = src.read(1, window=win)
        profile = {**src.profile, "height": h, "width": w,
                   "transform": src.window_transform(win), "tiled": False}
        profile.pop("blockxsize", None)
        profile.pop("blockysize", None)
    with rasterio.open(d / "dem_phu_luong_window.tif", "w", **profile) as dst:
        dst.write(data, 1)
    (d / "towers.csv").write_bytes(tower_csv(base_tower_rows()))
    with open(d / "villages.csv", "w", encoding="utf-8", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["id", "name", "commune", "population", "lon", "lat"])
        for row in VILLAGES:
            wr.writerow(row)
    line = [[105.7720, 21.8450], [105.7720, 21.9300]]
    (d / "fiber.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"operator": "VNPT"},
        "geometry": {"type": "LineString", "coordinates": line}}]}), encoding="utf-8")
    return RunConfig(dem=d / "dem_phu_luong_window.tif", towers=(d / "towers.csv",),
                     villages=d / "villages.csv", fiber=(d / "fiber.geojson",),
                     radius_m=RADIUS_M, title="tiny test run")


@dataclass(frozen=True)
class StoreInfo:
    root: Path
    version_id: str
    planner: str
    viettel: str
    mobifone: str
    vinaphone: str  # a carrier with no towers in the run


@pytest.fixture(scope="session")
def base_store(tmp_path_factory, tiny_config) -> StoreInfo:
    """One store per session: the tiny run published once, and four keys."""
    from lomsong.app.store import Store

    root = tmp_path_factory.mktemp("store") / "store"
    store = Store(root).open()
    vid = store.compute_version(tiny_config)
    keys = {name: store.add_key(role, carrier)[1] for name, role, carrier in [
        ("planner", "planner", None), ("viettel", "carrier", "Viettel"),
        ("mobifone", "carrier", "MobiFone"), ("vinaphone", "carrier", "VinaPhone")]}
    store.close()
    return StoreInfo(root=root, version_id=vid, **keys)


@pytest.fixture
def store_copy(base_store, tmp_path) -> StoreInfo:
    """A private copy of the session store, for tests that publish new versions."""
    dst = tmp_path / "store"
    shutil.copytree(base_store.root, dst)
    return StoreInfo(**{**base_store.__dict__, "root": dst})


def make_client(info: StoreInfo, run=None, **settings):
    from fastapi.testclient import TestClient

    from lomsong.app.main import create_app
    from lomsong.app.settings import Settings

    app = create_app(Settings(store=info.root, warm_kernels=False, **settings), run=run)
    return TestClient(app)


@pytest.fixture(scope="session")
def client(base_store):
    """A TestClient over the session store (read-only use)."""
    with make_client(base_store) as c:
        yield c


FAKE_CARRIERS = ("Viettel", "MobiFone")


def fake_record(vid: str, viettel_4g: str, commune: str = "Xã Tân Cương") -> GapRecord:
    marks = []
    for c in FAKE_CARRIERS:
        for rat in ("2G", "3G", "4G", "5G"):
            st = viettel_4g if (c == "Viettel" and rat == "4G") else "gap"
            dbm = -80.0 if st == "covered" else None
            marks.append(ServiceMark(c, rat, dbm, None, "VIE-001" if dbm else None,
                                     1.0 if dbm else 0.0, 0.99 if dbm else 0.0, st))
    no_mobile = viettel_4g == "gap"
    return GapRecord(village_id=vid, name=f"Bản {vid}", lon=105.8, lat=21.6, commune=commune,
                     commune_code="05503", population=100, households=None, marks=tuple(marks),
                     no_mobile=no_mobile, weak_mobile=False, fiber_distance_m=None,
                     no_fiber=None, footprint_cells=3)


def fake_run(statuses: dict[str, str], fail_after_summary: bool = False):
    """A run function with the pipeline's signature that writes a tiny output folder.

    It writes a real, minimal output (summary.json and villages.geojson from GapRecords,
    towers, the tower input) the way ``run_pipeline`` does, for store tests without kernels.
    """
    from lomsong.geodata import outputs

    def run(cfg, out_dir, *, overwrite=False, progress=None, cache_dir=None):
        records = [fake_record(v, s) for v, s in statuses.items()]
        with outputs.publish_dir(Path(out_dir), overwrite) as tmp:
            if progress:
                progress("write outputs", 0.5)
            (tmp / "summary.json").write_bytes(outputs.json_bytes(summarize(records, FAKE_CARRIERS)))
            if fail_after_summary:
                raise RuntimeError("disk full (injected)")
            fc = outputs.feature_collection(records)
            (tmp / "villages.geojson").write_bytes(outputs.json_bytes(fc))
            (tmp / "inputs").mkdir()
            (tmp / "inputs" / "towers.csv").write_bytes(Path(cfg.towers[0]).read_bytes())
            (tmp / "towers.csv").write_text(
                "cell_id,site_id,carrier,rat,lon,lat,height_m,illustrative\n"
                "Viettel-4G-1-1,VIE-001,Viettel,4G,105.8,21.6,30.0,true\n"
                "MobiFone-4G-1-1,MOB-001,MobiFone,4G,105.81,21.61,25.0,true\n",
                encoding="utf-8")

    return run


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(base_store, tmp_path_factory):
    """``lomsong serve`` in a real process on 127.0.0.1: yields (base_url, planner_key)."""
    import httpx

    root = tmp_path_factory.mktemp("live") / "store"
    shutil.copytree(base_store.root, root)
    port = free_port()
    log_path = root.parent / "serve.log"
    env = {**os.environ, "LOMSONG_WARM_KERNELS": "0"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lomsong.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--store", str(root), "--no-sample"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"lomsong serve exited with {proc.returncode}:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("lomsong serve did not answer within 60 s:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield base, base_store.planner
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
