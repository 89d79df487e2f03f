"""POST /towers end to end: validation, size limit, jobs, publish, failure that changes nothing."""

from __future__ import annotations

import csv
import io
import threading
import time

from tests.app.conftest import LOM_SONG, VILLAGES, make_client, mobifone_everywhere, tower_csv

API = "/api/v1"
JOB_TIMEOUT_S = 180


def h(key: str) -> dict:
    return {"X-API-Key": key}


def served(c, key: str) -> dict[str, bytes]:
    """The bytes of everything a planner reads: summary, every gap list, towers."""
    out = {"summary": c.get(f"{API}/summary", headers=h(key)).content,
           "towers": c.get(f"{API}/towers", headers=h(key)).content,
           "lom_song": c.get(f"{API}/gaps", params={"format": "csv"}, headers=h(key)).content}
    for carrier in ("Viettel", "MobiFone"):
        out[carrier] = c.get(f"{API}/gaps", params={"carrier": carrier, "format": "csv"},
                             headers=h(key)).content
    return out


def wait_job(c, job_id: str, key: str) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    seen = set()
    while time.monotonic() < deadline:
        job = c.get(f"{API}/jobs/{job_id}", headers=h(key)).json()
        seen.add(job["state"])
        assert 0.0 <= job["progress"] <= 1.0
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end in {JOB_TIMEOUT_S} s (states {seen})")


def post(c, key: str, data: bytes, name: str = "towers.csv", **form):
    return c.post(f"{API}/towers", files={"file": (name, data, "text/csv")}, data=form or None,
                  headers=h(key))


def test_upload_changes_the_gap_lists(store_copy):
    with make_client(store_copy) as c:
        before = served(c, store_copy.planner)
        mob = c.get(f"{API}/gaps", params={"carrier": "MobiFone"},
                    headers=h(store_copy.mobifone)).json()
        assert mob["count"] == len(LOM_SONG) + 1
        cache_files = set((store_copy.root / "cache").iterdir())

        r = post(c, store_copy.mobifone, mobifone_everywhere(), name="mobifone_2025.csv")
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert r.headers["location"] == f"{API}/jobs/{job_id}" == r.json()["status_url"]
        # Another carrier may not look at it; a planner may.
        assert c.get(f"{API}/jobs/{job_id}", headers=h(store_copy.viettel)).status_code == 403
        job = wait_job(c, job_id, store_copy.mobifone)
        assert job["state"] == "succeeded", job
        assert job["progress"] == 1.0 and job["carrier"] == "MobiFone"
        assert job["base_version"] == store_copy.version_id
        assert job["version_id"] != store_copy.version_id
        assert c.get(f"{API}/jobs/{job_id}", headers=h(store_copy.planner)).status_code == 200

        assert c.get(f"{API}/health").json()["version_id"] == job["version_id"]
        after = served(c, store_copy.planner)
        mob = c.get(f"{API}/gaps", params={"carrier": "MobiFone"},
                    headers=h(store_copy.mobifone)).json()
        assert mob["count"] == 0 and mob["version_id"] == job["version_id"]
        assert c.get(f"{API}/gaps", headers=h(store_copy.planner)).json()["count"] == 0
        assert after["MobiFone"] != before["MobiFone"]
        assert after["lom_song"] != before["lom_song"]
        # Viettel's results are untouched (its rows' lõm sóng flag changes, nothing else).
        def viettel_part(body: bytes) -> list[dict]:
            rows = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
            return [{k: v for k, v in r.items() if k.startswith("viettel_") or k in ("id",
                     "status")} for r in rows]

        assert viettel_part(after["Viettel"]) == viettel_part(before["Viettel"])
        assert after["Viettel"] != before["Viettel"]  # no_mobile went from true to false
        towers = c.get(f"{API}/towers", headers=h(store_copy.mobifone)).json()["towers"]
        assert sorted(t["site_id"] for t in towers) == sorted(f"MOB-{v[0]}" for v in VILLAGES)
        vie = c.get(f"{API}/towers", headers=h(store_copy.viettel)).json()["towers"]
        assert {t["site_id"] for t in vie} == {"VIE-A"} and len(vie) == 2

    # Only MobiFone recomputed: Viettel's cached rasters were reused, nothing new for them.
    new = set((store_copy.root / "cache").iterdir()) - cache_files
    assert new and all(p.name.startswith("mobifone_") for p in new)
    # The new version's tower input: Viettel's rows as they were, MobiFone's replaced.
    vdir = store_copy.root / "versions" / job["version_id"]
    text = (vdir / "inputs" / "towers.csv").read_text(encoding="utf-8")
    assert ",10011," in text and ",20011," in text and ",30011," not in text
    assert text.count("MobiFone") == len(VILLAGES)


def test_invalid_upload_is_rejected_whole(store_copy):
    bad = tower_csv([("LTE", "MobiFone", "M1", 1, 105.80, 21.90),
                     ("LTE", "MobiFone", "M2", 2, 105.80, 21.90)])
    bad = bad.replace(b"105.800000,21.900000,30,,1\nLTE,MobiFone,M2",
                      b"205.800000,21.900000,30,,1\nLTE,MobiFone,M2")
    bad += b"WIMAX,MobiFone,M3,3,105.79,21.88,-5,,1\n"
    bad += b"LTE,MobiFone,M4,4,106.90,21.88,30,,1\n"  # off the DEM
    with make_client(store_copy) as c:
        before = served(c, store_copy.planner)
        r = post(c, store_copy.mobifone, bad, name="../../etc/passwd")
        assert r.status_code == 422
        body = r.json()
        problems = "\n".join(body["problems"])
        assert "row 2: lon=205.800000" in problems
        assert "row 4: radio='WIMAX'" in problems and "row 4: height_m=-5" in problems
        assert "row 5" in problems and "outside the DEM" in problems
        assert len(body["problems"]) == 4
        # The file name appears in messages only, tamed; it is never used as a path.
        assert body["problems"][0].startswith("passwd row 2")
        assert c.get(f"{API}/health").json()["jobs_waiting"] == 0
        assert served(c, store_copy.planner) == before
    assert (store_copy.root / "current").read_text().strip() == store_copy.version_id


def test_upload_scope_rules(store_copy):
    rows = [("LTE", "MobiFone", "M1", 1, 105.80, 21.90)]
    viettel_row = [("LTE", "Viettel", "V9", 9, 105.80, 21.90)]
    with make_client(store_copy) as c:
        # A carrier may not replace another carrier's towers...
        r = post(c, store_copy.viettel, tower_csv(rows), carrier="MobiFone")
        assert r.status_code == 403
        # ...nor slip another carrier's rows into its own upload.
        r = post(c, store_copy.mobifone, tower_csv(rows + viettel_row))
        assert r.status_code == 422
        assert "row 3: carrier=Viettel" in "\n".join(r.json()["problems"])
        # A planner must say whose towers they are.
        r = post(c, store_copy.planner, tower_csv(rows))
        assert r.status_code == 422 and "carrier" in r.json()["detail"]
        # Not a CSV at all / no file.
        r = post(c, store_copy.mobifone, b"\xff\xfe\x00garbage")
        assert r.status_code == 422 and "UTF-8" in r.json()["detail"]
        r = c.post(f"{API}/towers", data={"carrier": "MobiFone"}, headers=h(store_copy.mobifone))
        assert r.status_code == 422
        assert c.get(f"{API}/health").json()["jobs_waiting"] == 0


def test_upload_size_limit(store_copy):
    with make_client(store_copy, max_upload_bytes=2000) as c:
        rows = [("LTE", "MobiFone", f"M{i}", i, 105.80, 21.90 - i * 1e-4) for i in range(60)]
        big = tower_csv(rows)
        assert len(big) > 2000
        r = post(c, store_copy.mobifone, big)
        assert r.status_code == 413
        # Far over the limit, the body is refused before it is read.
        r = post(c, store_copy.mobifone, b"x" * (200 * 1024))
        assert r.status_code == 413
        assert c.get(f"{API}/health").json()["jobs_waiting"] == 0


def test_crash_midway_changes_nothing(store_copy, monkeypatch):
    """A job that dies after writing part of its output: the served results stay, to the byte."""
    from lomsong.geodata import outputs
    from lomsong.pipeline import run_pipeline

    gate = threading.Event()

    def boom(*args, **kwargs):
        raise OSError("No space left on device (injected)")

    def gated_run(cfg, out_dir, **kw):
        gate.wait(60)
        return run_pipeline(cfg, out_dir, **kw)

    # write_gpkg runs after summary.json and villages.geojson are written to the temp folder.
    monkeypatch.setattr(outputs, "write_gpkg", boom)
    with make_client(store_copy, run=gated_run) as c:
        before = served(c, store_copy.planner)
        r = post(c, store_copy.mobifone, mobifone_everywhere())
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        job = c.get(f"{API}/jobs/{job_id}", headers=h(store_copy.planner)).json()
        assert job["state"] in ("queued", "running")
        # While it runs, the previous version is served.
        assert served(c, store_copy.planner) == before
        gate.set()
        job = wait_job(c, job_id, store_copy.planner)
        assert job["state"] == "failed"
        assert "No space left on device" in job["error"] and job["version_id"] is None
        assert served(c, store_copy.planner) == before
        assert c.get(f"{API}/health").json()["version_id"] == store_copy.version_id
    versions = store_copy.root / "versions"
    assert [p.name for p in versions.iterdir()] == [store_copy.version_id]
    assert not list((store_copy.root / "uploads").iterdir())


def test_too_many_waiting_jobs_is_429(store_copy):
    from lomsong.pipeline import run_pipeline

    gate = threading.Event()

    def gated_run(cfg, out_dir, **kw):
        gate.wait(60)
        return run_pipeline(cfg, out_dir, **kw)

    with make_client(store_copy, run=gated_run, max_pending_jobs=1) as c:
        first = post(c, store_copy.mobifone, mobifone_everywhere())
        assert first.status_code == 202
        r = post(c, store_copy.mobifone, mobifone_everywhere())
        assert r.status_code == 429 and r.headers["retry-after"]
        gate.set()
        assert wait_job(c, first.json()["job_id"], store_copy.planner)["state"] == "succeeded"
        third = post(c, store_copy.mobifone, mobifone_everywhere())
        assert third.status_code == 202
        assert wait_job(c, third.json()["job_id"], store_copy.planner)["state"] == "succeeded"


def test_stale_jobs_are_failed_at_start(store_copy):
    from lomsong.app.store import Store

    s = Store(store_copy.root).open()
    job = s.create_job("towers", carrier="Viettel", key_id=None, base_version=None)
    s.update_job(job.job_id, state="running")
    s.close()
    with make_client(store_copy) as c:
        got = c.get(f"{API}/jobs/{job.job_id}", headers=h(store_copy.viettel)).json()
        assert got["state"] == "failed" and "interrupted" in got["error"]
        assert c.get(f"{API}/jobs/{job.job_id}",
                     headers=h(store_copy.mobifone)).status_code == 403


def test_empty_store_answers_503(tmp_path):
    from fastapi.testclient import TestClient

    from lomsong.app.main import create_app
    from lomsong.app.settings import Settings
    from lomsong.app.store import Store

    _, key = Store(tmp_path / "s").open().add_key("planner")
    with TestClient(create_app(Settings(store=tmp_path / "s", warm_kernels=False))) as c:
        health = c.get(f"{API}/health").json()
        assert health["status"] == "empty" and health["version_id"] is None
        r = c.get(f"{API}/summary", headers=h(key))
        assert r.status_code == 503 and "no results" in r.json()["detail"]
