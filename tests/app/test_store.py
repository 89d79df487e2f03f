"""Store mechanics (versions, atomic publish, keys, sessions, jobs) with a small fake run.

The fake run writes a real, minimal output folder (summary.json and villages.geojson from
GapRecords, towers) the way ``run_pipeline`` does, so these tests do not need the kernels.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from lomsong.app.store import (
    KEY_RE,
    Store,
    VersionCache,
    canonical_carrier,
    check_job_id,
    check_version_id,
)
from lomsong.coverage.errors import InvalidInputError, LomsongError, NotFoundError
from lomsong.pipeline import RunConfig
from tests.app.conftest import FAKE_CARRIERS as CARRIERS
from tests.app.conftest import fake_record as _record
from tests.app.conftest import fake_run


@pytest.fixture
def cfg(tmp_path):
    towers = tmp_path / "towers_in.csv"
    towers.write_text("radio,carrier,lon,lat\nLTE,Viettel,105.8,21.6\n", encoding="utf-8")
    return RunConfig(dem=tmp_path / "dem.tif", towers=(towers,), villages=tmp_path / "v.csv")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "store").open()
    yield s
    s.close()


def test_compute_publishes_and_loads(store, cfg):
    assert store.current_id() is None
    vid = store.compute_version(cfg, run=fake_run({"a": "gap", "b": "covered"}))
    assert store.current_id() == vid
    assert check_version_id(vid) == vid
    v = store.load_version(vid)
    assert v.carriers == CARRIERS
    assert [r.village_id for r in v.records] == ["a", "b"]
    assert v.by_id["b"].mark("Viettel", "4G").status == "covered"
    assert v.by_id["a"].no_mobile and not v.by_id["b"].no_mobile
    # Rebuilt records give back exactly the flat rows the files were written from.
    assert v.by_id["b"].flat() == _record("b", "covered").flat()
    assert v.towers[0]["carrier"] == "Viettel" and v.towers[0]["height_m"] == 30.0
    assert v.towers[0]["illustrative"] is True
    # The version's config points at its own copy of the tower input.
    saved = store.version_config(vid)
    assert saved.towers == (store.version_dir(vid) / "inputs" / "towers.csv",)
    assert saved.villages == cfg.villages


def test_failed_run_publishes_nothing_and_leaves_no_folder(store, cfg):
    first = store.compute_version(cfg, run=fake_run({"a": "gap"}))
    before = (store.version_dir(first) / "summary.json").read_bytes()
    with pytest.raises(RuntimeError, match="injected"):
        store.compute_version(cfg, run=fake_run({"a": "covered"}, fail_after_summary=True))
    assert store.current_id() == first
    assert store.version_ids() == [first]
    assert not [p for p in store.versions_dir.iterdir() if p.name != first]
    assert (store.version_dir(first) / "summary.json").read_bytes() == before
    with pytest.raises(NotFoundError):
        store.version_config("20000101T000000.000000Z-000000")


def test_incomplete_version_is_never_published(store, cfg):
    def run_without_geojson(cfg, out_dir, **kw):
        Path(out_dir).mkdir()
        (Path(out_dir) / "summary.json").write_text("{}", encoding="utf-8")

    with pytest.raises(LomsongError, match="villages.geojson"):
        store.compute_version(cfg, run=run_without_geojson)
    assert store.current_id() is None
    assert store.version_ids() == []


def test_publish_replaces_current_atomically(store, cfg):
    a = store.compute_version(cfg, run=fake_run({"a": "gap"}))
    ino = os.stat(store.current_path).st_ino
    b = store.compute_version(cfg, run=fake_run({"a": "covered"}))
    assert a != b and store.current_id() == b
    # A new file was renamed over the old one (never rewritten in place).
    assert os.stat(store.current_path).st_ino != ino
    assert not list(store.root.glob(".current.*"))
    with pytest.raises(LomsongError, match="incomplete"):
        store.publish("20000101T000000.000000Z-000000")
    assert store.current_id() == b


def test_prune_keeps_current_and_newest(store, cfg):
    ids = [store.compute_version(cfg, run=fake_run({"a": "gap"})) for _ in range(4)]
    assert store.prune(2) == ids[:2]
    assert store.version_ids() == ids[2:]
    assert store.current_id() == ids[-1]
    # The current version survives even when it is not among the newest.
    store.publish(ids[2])
    newer = store.compute_version(cfg, run=fake_run({"a": "gap"}))
    store.publish(ids[2])
    assert store.prune(1) == [ids[3]]
    assert store.version_ids() == [ids[2], newer]


def test_cache_keeps_the_newest_per_carrier_and_technology(store):
    now = time.time()

    def make(name: str, age_s: float) -> None:
        p = store.cache_dir / name
        p.write_bytes(b"x")
        os.utime(p, (now - age_s, now - age_s))

    for i in range(4):
        make(f"mobifone_4G_{i:024x}.npz", age_s=100 * (4 - i))  # i=3 is the newest
    make("viettel_4G_" + "a" * 24 + ".npz", age_s=10_000)  # old, but the only one
    make("viettel_3G_" + "b" * 24 + ".tmp.npz", age_s=7200)  # a crashed write
    make("viettel_3G_" + "c" * 24 + ".tmp.npz", age_s=1)  # a write in progress
    removed = store.prune_cache(2)
    assert removed == sorted([f"mobifone_4G_{0:024x}.npz", f"mobifone_4G_{1:024x}.npz",
                              "viettel_3G_" + "b" * 24 + ".tmp.npz"])
    assert sorted(p.name for p in store.cache_dir.iterdir()) == sorted([
        f"mobifone_4G_{2:024x}.npz", f"mobifone_4G_{3:024x}.npz",
        "viettel_4G_" + "a" * 24 + ".npz", "viettel_3G_" + "c" * 24 + ".tmp.npz"])


def test_ids_are_validated_before_any_path_is_built(store):
    for bad in ("../etc", "20250101T000000.000000Z-00000g", "", "a/b", "20250101T000000.000000Z-000000/.."):
        with pytest.raises(InvalidInputError):
            store.version_dir(bad)
    for bad in ("x" * 32, "../" + "0" * 29, "0" * 31):
        with pytest.raises(InvalidInputError):
            check_job_id(bad)
    store.current_path.write_text("../../secret\n", encoding="ascii")
    with pytest.raises(LomsongError):
        store.current_id()


def test_keys_are_hashed_and_checked(store):
    rec, key = store.add_key("carrier", "viettel", "Viettel NOC")
    assert rec.carrier == "Viettel" and rec.role == "carrier"
    m = KEY_RE.match(key)
    assert m and m.group(1) == rec.key_id
    # Only the hash is stored: the secret appears nowhere in the database file.
    rows = sqlite3.connect(store.db_path).execute("SELECT * FROM api_keys").fetchall()
    assert key not in repr(rows) and m.group(2) not in repr(rows)
    assert store.authenticate(key).key_id == rec.key_id
    assert store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.authenticate(f"lsk_{'0' * 8}_{m.group(2)}") is None
    assert store.authenticate("") is None and store.authenticate("nonsense") is None
    planner, pkey = store.add_key("planner")
    assert planner.carrier is None
    store.revoke_key(rec.key_id)
    assert store.authenticate(key) is None
    assert store.authenticate(pkey).role == "planner"
    assert [k.key_id for k in store.list_keys()] == [rec.key_id, planner.key_id]
    with pytest.raises(NotFoundError):
        store.revoke_key("ffffffff")


@pytest.mark.parametrize("role,carrier,match", [
    ("admin", None, "--role"), ("carrier", None, "carrier"), ("carrier", "Telco", "Telco"),
    ("planner", "Viettel", "only a carrier key"),
])
def test_bad_key_requests_name_the_flag(store, role, carrier, match):
    with pytest.raises(InvalidInputError, match=match):
        store.add_key(role, carrier)


def test_canonical_carrier_accepts_aliases():
    assert canonical_carrier("VNPT") == "VinaPhone"
    assert canonical_carrier(" mobifone ") == "MobiFone"
    with pytest.raises(InvalidInputError, match="unknown carrier"):
        canonical_carrier("Mobi")


def test_sessions_expire_and_end_with_the_key(store):
    rec, _ = store.add_key("planner")
    token = store.create_session(rec.key_id, ttl_s=60)
    assert store.session_key(token).key_id == rec.key_id
    assert store.session_key(token + "x") is None and store.session_key(None) is None
    short = store.create_session(rec.key_id, ttl_s=0.01)
    time.sleep(0.05)
    assert store.session_key(short) is None
    store.delete_session(token)
    assert store.session_key(token) is None
    again = store.create_session(rec.key_id, ttl_s=60)
    store.revoke_key(rec.key_id)
    assert store.session_key(again) is None


def test_jobs_lifecycle(store):
    job = store.create_job("towers", carrier="Viettel", key_id=None, base_version=None)
    assert job.state == "queued" and check_job_id(job.job_id)
    store.update_job(job.job_id, state="running", progress=0.5, step="signal Viettel 4G")
    assert store.count_jobs("queued", "running") == 1
    store.update_job(job.job_id, state="failed", error="bad", problems=["row 2: x", "row 3: y"])
    got = store.get_job(job.job_id)
    assert got.state == "failed" and got.problems == ("row 2: x", "row 3: y")
    with pytest.raises(ValueError):
        store.update_job(job.job_id, state="exploded")
    with pytest.raises(ValueError):
        store.update_job(job.job_id, carrier="MobiFone")
    with pytest.raises(NotFoundError):
        store.get_job("0" * 32)
    left = store.create_job("towers", carrier="Viettel", key_id=None, base_version=None)
    assert store.fail_unfinished_jobs("restart") == 1
    assert store.get_job(left.job_id).error == "restart"


def test_version_cache_follows_publishes(store, cfg):
    cache = VersionCache(store, entries=2)
    assert cache.get() is None
    a = store.compute_version(cfg, run=fake_run({"a": "gap"}))
    va = cache.get()
    assert va.version_id == a and cache.get() is va
    calls = []
    assert cache.memo(va, ("k",), lambda: calls.append(1) or b"x") == b"x"
    assert cache.memo(va, ("k",), lambda: calls.append(1) or b"y") == b"x"
    assert calls == [1]
    b = store.compute_version(cfg, run=fake_run({"a": "covered"}))
    vb = cache.get()
    assert vb.version_id == b and vb.by_id["a"].mark("Viettel", "4G").status == "covered"
    assert cache.memo(vb, ("k",), lambda: b"z") == b"z"  # nothing carried over


def test_version_cache_keeps_serving_when_a_version_is_broken(store, cfg):
    cache = VersionCache(store)
    a = store.compute_version(cfg, run=fake_run({"a": "gap"}))
    assert cache.get().version_id == a
    b = store.compute_version(cfg, run=fake_run({"a": "gap"}))
    (store.version_dir(b) / "villages.geojson").write_text("{not json", encoding="utf-8")
    assert cache.get().version_id == a
