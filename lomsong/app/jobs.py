"""Recomputation jobs: one worker thread runs them, one at a time.

Numba's default threading layer (``workqueue``) is not safe when ``parallel=True`` kernels are
entered from several threads at once, and FastAPI runs plain ``def`` handlers on a pool of many
threads.  So no request handler ever computes: handlers validate, queue a job and answer 202; a
single-worker executor runs jobs (and the start-up warm-up) serially on one thread.

A tower-upload job starts from the version that is current when it *runs* (not when it was
queued), so two carriers' uploads queued together both end up in the result: the carrier's rows in
that version's ``inputs/towers.csv`` are replaced by the upload (``replace_carrier_rows``), the
pipeline reruns with the store's cache (only the changed carrier recomputes) and the new version
is published only when complete.  On any failure the job is marked failed with its error and the
served version does not change.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from lomsong.app.store import LoadedVersion, Store
from lomsong.coverage.errors import InvalidInputError, LomsongError

log = logging.getLogger(__name__)

#: Progress is written to SQLite at most this often (per job), plus at every new step.
PROGRESS_EVERY_S = 0.25


def combine_towers(version: LoadedVersion, upload: bytes, carrier: str, name: str) -> bytes:
    """The tower input of a new version: ``version``'s rows with ``carrier``'s replaced.

    Validates the upload alone first (every problem, each naming row and column, and only
    ``carrier``'s rows allowed; towers outside the computation grid rejected), then the combined
    file.  Raises :class:`InvalidInputError`; publishes nothing.
    """
    from lomsong.geodata.towers import parse_towers, replace_carrier_rows

    parse_towers(upload, name, crs=version.crs, bounds=version.bounds, only_carrier=carrier)
    base = version.path / "inputs" / "towers.csv"
    if not base.is_file():
        raise LomsongError(f"{base}: missing, so version {version.version_id} cannot be the base "
                           "of an upload; recompute it with this lomsong")
    combined = replace_carrier_rows(base.read_bytes(), upload, carrier)
    parse_towers(combined, f"{name} merged into version {version.version_id}",
                 crs=version.crs, bounds=version.bounds)
    return combined


def warm_kernels(model: str = "p526") -> None:
    """Compile the signal kernels once on a tiny grid, so the first job is not slowed by it.

    Runs on the compute thread (kernels compiled with ``cache=True`` then load from disk).
    """
    import numpy as np
    from affine import Affine

    from lomsong.coverage.models import DemGrid, Tower

    try:
        from lomsong.coverage.signal import best_server
    except ImportError:  # a checkout without the signal module yet: nothing to warm
        log.info("lomsong.coverage.signal not available; kernels not warmed")
        return
    t0 = time.perf_counter()
    cell = 90.0
    dem = DemGrid(np.full((17, 17), 100.0, np.float32),
                  Affine(cell, 0.0, 580000.0, 0.0, -cell, 2400000.0), "EPSG:32648")
    x, y = dem.xy(8, 8)
    tower = Tower(cell_id="warm-up", site_id="warm-up", carrier="Viettel", rat="4G",
                  lon=105.77, lat=21.69, x=x, y=y, height_m=30.0, eirp_dbm=61.0,
                  frequency_mhz=1800.0, bandwidth_mhz=20.0, radius_m=1000.0)
    best_server(dem, [tower], model=model, rx_height_m=1.5)
    log.info("kernels warmed in %.2f s", time.perf_counter() - t0)


class JobRunner:
    """Queues and runs jobs on one worker thread; records state and progress in the store."""

    def __init__(self, store: Store, *, run: Callable[..., Any] | None = None,
                 keep_versions: int = 5,
                 current: Callable[[], LoadedVersion | None] | None = None) -> None:
        self.store = store
        self.run = run
        self.keep_versions = keep_versions
        self._current = current
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lomsong-compute")
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()

    def warm(self, model: str = "p526") -> Future:
        """Queue the kernel warm-up on the compute thread (a failure is logged, not raised)."""
        fut = self._pool.submit(warm_kernels, model)

        def report(f: Future) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.error("kernel warm-up failed", exc_info=f.exception())

        fut.add_done_callback(report)
        return fut

    def submit_upload(self, *, carrier: str, upload: bytes, name: str, key_id: str | None,
                      base_version: str | None) -> str:
        """Queue a tower upload for ``carrier`` (already validated); return the job id."""
        job = self.store.create_job("towers", carrier=carrier, key_id=key_id,
                                    base_version=base_version)
        fut = self._pool.submit(self._run_upload, job.job_id, carrier, upload, name)
        with self._lock:
            self._futures[job.job_id] = fut
        job_id = job.job_id

        def forget(_f: Future) -> None:
            self._forget(job_id)

        fut.add_done_callback(forget)
        return job.job_id

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._futures.pop(job_id, None)

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until a job queued by this runner has ended (tests, CLI)."""
        with self._lock:
            fut = self._futures.get(job_id)
        if fut is not None:
            fut.result(timeout=timeout)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _progress(self, job_id: str) -> Callable[[str, float], None]:
        last_step: str | None = None
        last_t = 0.0

        def cb(step: str, fraction: float) -> None:
            nonlocal last_step, last_t
            now = time.monotonic()
            if step == last_step and now - last_t < PROGRESS_EVERY_S:
                return
            last_step, last_t = step, now
            frac = min(max(float(fraction), 0.0), 1.0)
            try:
                # Stop short of 1 until the version is published.
                self.store.update_job(job_id, step=str(step)[:200], progress=min(frac, 0.99))
            except Exception:  # progress is best effort; never fail a job over it
                log.exception("job %s: progress update failed", job_id)

        return cb

    def _run_upload(self, job_id: str, carrier: str, upload: bytes, name: str) -> None:
        store = self.store
        work = store.uploads_dir / job_id
        try:
            store.update_job(job_id, state="running", started_at=time.time(), step="starting")
            base: LoadedVersion | None
            if self._current is not None:
                base = self._current()
            else:
                cur = store.current_id()
                base = store.load_version(cur) if cur is not None else None
            if base is None:
                raise LomsongError("no published version to start from")
            store.update_job(job_id, base_version=base.version_id, step="merging towers")
            combined = combine_towers(base, upload, carrier, name)
            cfg = store.version_config(base.version_id)
            work.mkdir(parents=True, exist_ok=True)
            towers_path = work / "towers.csv"
            towers_path.write_bytes(combined)
            vid = store.compute_version(
                cfg.replace(towers=(towers_path,)), run=self.run, progress=self._progress(job_id),
                parent=base.version_id, job_id=job_id, keep_versions=self.keep_versions)
            store.update_job(job_id, state="succeeded", version_id=vid, progress=1.0,
                             step="published", finished_at=time.time())
            log.info("job %s: %s's towers published as version %s", job_id, carrier, vid)
        except InvalidInputError as exc:
            store.update_job(job_id, state="failed", error=str(exc).splitlines()[0],
                             problems=exc.problems, finished_at=time.time())
        except Exception as exc:
            log.exception("job %s failed", job_id)
            msg = str(exc).splitlines()[0] if str(exc) else ""
            store.update_job(job_id, state="failed", finished_at=time.time(),
                             error=f"{type(exc).__name__}: {msg}"[:2000])
        finally:
            shutil.rmtree(work, ignore_errors=True)
