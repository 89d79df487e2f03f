"""The compute thread: one worker, jobs in order, each starting from the then-current version."""

from __future__ import annotations

import threading
import time

import pytest

from lomsong.app.jobs import JobRunner, warm_kernels
from lomsong.app.store import Store
from lomsong.pipeline import RunConfig
from tests.app.conftest import fake_run


@pytest.fixture
def seeded(tmp_path):
    """A store whose current version came from a (fake) run on a two-carrier tower file."""
    towers = tmp_path / "towers_in.csv"
    towers.write_text("radio,carrier,cell,lon,lat\nLTE,Viettel,1,105.8,21.6\n"
                      "LTE,MobiFone,2,105.81,21.61\n", encoding="utf-8")
    cfg = RunConfig(dem=tmp_path / "dem.tif", towers=(towers,), villages=tmp_path / "v.csv")
    store = Store(tmp_path / "store").open()
    store.compute_version(cfg, run=fake_run({"a": "gap"}))
    yield store
    store.close()


def test_jobs_run_one_at_a_time_on_one_thread(seeded):
    spans: list[tuple[str, float, float]] = []
    inner = fake_run({"a": "covered"})

    def slow_run(cfg, out_dir, **kw):
        t0 = time.perf_counter()
        time.sleep(0.15)
        inner(cfg, out_dir, **kw)
        spans.append((threading.current_thread().name, t0, time.perf_counter()))

    runner = JobRunner(seeded, run=slow_run, keep_versions=10)
    try:
        first = runner.submit_upload(carrier="Viettel", upload=b"radio,carrier,cell,lon,lat\n"
                                     b"LTE,Viettel,7,105.82,21.62\n", name="v.csv",
                                     key_id=None, base_version=None)
        second = runner.submit_upload(carrier="MobiFone", upload=b"radio,carrier,cell,lon,lat\n"
                                      b"UMTS,MobiFone,8,105.83,21.63\n", name="m.csv",
                                      key_id=None, base_version=None)
        runner.wait(first, timeout=30)
        runner.wait(second, timeout=30)
    finally:
        runner.shutdown()
    j1, j2 = seeded.get_job(first), seeded.get_job(second)
    assert (j1.state, j2.state) == ("succeeded", "succeeded"), (j1.error, j2.error)
    assert len(spans) == 2 and spans[0][2] <= spans[1][1]  # no overlap
    assert {s[0] for s in spans} == {spans[0][0]} and spans[0][0].startswith("lomsong-compute")
    # The second job started from the first one's version, so both uploads are in the result.
    assert j2.base_version == j1.version_id and seeded.current_id() == j2.version_id
    text = (seeded.version_dir(j2.version_id) / "inputs" / "towers.csv").read_text()
    assert ",7," in text and ",8," in text and ",1," not in text and ",2," not in text
    assert not list(seeded.uploads_dir.iterdir())


def test_a_job_that_breaks_marks_failed_and_keeps_the_version(seeded):
    cur = seeded.current_id()
    runner = JobRunner(seeded, run=fake_run({"a": "covered"}, fail_after_summary=True))
    try:
        job = runner.submit_upload(carrier="Viettel", upload=b"radio,carrier,cell,lon,lat\n"
                                   b"LTE,Viettel,7,105.82,21.62\n", name="v.csv", key_id=None,
                                   base_version=cur)
        runner.wait(job, timeout=30)
    finally:
        runner.shutdown()
    got = seeded.get_job(job)
    assert got.state == "failed" and "injected" in got.error and got.version_id is None
    assert seeded.current_id() == cur and seeded.version_ids() == [cur]


def test_warm_kernels_compiles_on_a_tiny_grid(seeded):
    runner = JobRunner(seeded)
    try:
        t0 = time.perf_counter()
        runner.warm().result(timeout=300)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm_kernels()
        assert time.perf_counter() - t0 <= max(first, 0.5)
    finally:
        runner.shutdown()
