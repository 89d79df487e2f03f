"""The embedded store: published result versions on disk; API keys, sessions and jobs in SQLite.

Layout of a store folder ``DIR``::

    DIR/versions/<id>/    one complete pipeline output folder per computation (a "version")
    DIR/current           one line: the id of the served version
    DIR/cache/            the pipeline's per-carrier cache, so a new version recomputes only
                          the carriers whose towers changed
    DIR/uploads/<job>/    the tower file a job runs on (deleted when the job ends)
    DIR/lomsong.sqlite    API keys (hashed), browser sessions (hashed), jobs, versions' configs

Publishing is atomic.  ``run_pipeline`` builds ``versions/<id>`` in a temporary folder and renames
it into place only when every file is written; only then is ``current`` replaced, by writing a
new file and ``os.replace``-ing it over the old one (atomic on POSIX and Windows).  A reader that
reads ``current`` sees the old id or the new one, and either names a complete folder; the
previous version keeps being served until a new one has fully succeeded.  Old versions beyond
``keep_versions`` are deleted after a publish, never the current one.

One process computes at a time (the service's single compute thread, or ``lomsong serve``'s
first run before the server starts); SQLite (WAL mode) serialises the rest.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lomsong.coverage.errors import InvalidInputError, LomsongError, NotFoundError

log = logging.getLogger(__name__)

#: Version ids: UTC time of creation to the microsecond plus 24 random bits, so they sort by
#: age (pruning relies on it) and two stores' ids never clash.
VERSION_RE = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{6}$")
#: Job ids: 128 random bits in hex.
JOB_RE = re.compile(r"^[0-9a-f]{32}$")
#: API keys: ``lsk_`` + an 8-hex public key id + ``_`` + 43 url-safe characters (256 bits).
KEY_RE = re.compile(r"^lsk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
ROLES = ("planner", "carrier")
JOB_STATES = ("queued", "running", "succeeded", "failed")
#: Files that make a version folder complete enough to serve.
REQUIRED_FILES = ("summary.json", "villages.geojson")

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id        TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('planner', 'carrier')),
    carrier       TEXT,
    label         TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL,
    revoked_at    REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL REFERENCES api_keys(key_id),
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id       TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL,
    step         TEXT NOT NULL DEFAULT '',
    progress     REAL NOT NULL DEFAULT 0,
    error        TEXT,
    problems     TEXT,
    carrier      TEXT,
    key_id       TEXT,
    base_version TEXT,
    version_id   TEXT,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL
);
CREATE TABLE IF NOT EXISTS versions (
    version_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    parent     TEXT,
    job_id     TEXT,
    config     BLOB
);
"""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key (never the secret itself)."""

    key_id: str
    role: str
    carrier: str | None
    label: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One recomputation job, as stored."""

    job_id: str
    kind: str
    state: str
    step: str
    progress: float
    error: str | None
    problems: tuple[str, ...]
    carrier: str | None
    key_id: str | None
    base_version: str | None
    version_id: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True, slots=True, eq=False)
class LoadedVersion:
    """A published version read into memory: what every read endpoint answers from.

    ``records`` are rebuilt from ``villages.geojson`` (whose properties are ``GapRecord.flat()``),
    so the API and the files cannot disagree.  ``crs``/``bounds`` are the computation grid's
    (from a coverage raster), used to reject uploaded towers that fall off the DEM.
    """

    version_id: str
    path: Path
    summary: dict
    carriers: tuple[str, ...]
    rats: tuple[str, ...]  # technologies the run reports ("3G", "4G"...)
    records: tuple  # tuple[GapRecord, ...]
    by_id: dict
    towers: tuple[dict, ...]
    crs: str | None
    bounds: tuple[float, float, float, float] | None
    has_fiber: bool
    run_info: dict = field(default_factory=dict)
    map_html: bytes | None = None


def check_version_id(version_id: str) -> str:
    if not isinstance(version_id, str) or not VERSION_RE.match(version_id):
        raise InvalidInputError(f"version id {version_id!r}: expected "
                                "YYYYMMDDTHHMMSS.ffffffZ-xxxxxx")
    return version_id


def check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not JOB_RE.match(job_id):
        raise InvalidInputError(f"job id {job_id!r}: expected 32 hex digits")
    return job_id


class Store:
    """One store folder; thread-safe (one SQLite connection per thread)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.versions_dir = self.root / "versions"
        self.cache_dir = self.root / "cache"
        self.uploads_dir = self.root / "uploads"
        self.current_path = self.root / "current"
        self.db_path = self.root / "lomsong.sqlite"
        self._local = threading.local()

    # ------------------------------------------------------------------ setup

    def open(self) -> Store:
        """Create the folders and the database schema if they are not there; return self."""
        for d in (self.root, self.versions_dir, self.cache_dir, self.uploads_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(SCHEMA)  # idempotent; executescript runs its own commits
        return self

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (other threads' close when the threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --------------------------------------------------------------- versions

    def current_id(self) -> str | None:
        """The served version's id, or None when nothing has been published yet."""
        try:
            text = self.current_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        if not VERSION_RE.match(text):
            raise LomsongError(f"{self.current_path}: {text[:40]!r} is not a version id")
        return text

    def current_stamp(self) -> tuple[int, int, int] | None:
        """A cheap fingerprint of ``current`` (inode, size, mtime): changes on every publish."""
        try:
            st = os.stat(self.current_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def version_dir(self, version_id: str) -> Path:
        return self.versions_dir / check_version_id(version_id)

    def version_ids(self) -> list[str]:
        """Complete version folders on disk, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir()
                      if p.is_dir() and VERSION_RE.match(p.name))

    def new_version_id(self) -> str:
        """A fresh id, later than every version on disk (even if the clock went back)."""
        from datetime import datetime, timezone

        vid = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ-") + secrets.token_hex(3)
        ids = self.version_ids()
        if ids and vid <= ids[-1]:
            last = datetime.strptime(ids[-1][:23], "%Y%m%dT%H%M%S.%fZ")
            from datetime import timedelta

            vid = (last + timedelta(microseconds=1)).strftime("%Y%m%dT%H%M%S.%fZ-") \
                + secrets.token_hex(3)
        return vid

    def is_complete(self, version_id: str) -> bool:
        d = self.version_dir(version_id)
        return all((d / f).is_file() for f in REQUIRED_FILES)

    def publish(self, version_id: str) -> None:
        """Make ``version_id`` the served version (atomic replace of ``current``)."""
        if not self.is_complete(version_id):
            raise LomsongError(f"{self.version_dir(version_id)}: incomplete version, missing "
                               f"one of {', '.join(REQUIRED_FILES)}; not published")
        tmp = self.root / f".current.{secrets.token_hex(6)}.tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(version_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.current_path)
        with contextlib.suppress(OSError):  # not every platform can fsync a directory
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        log.info("published version %s", version_id)

    def compute_version(
        self,
        cfg: Any,
        *,
        run: Callable[..., Any] | None = None,
        progress: Callable[[str, float], None] | None = None,
        parent: str | None = None,
        job_id: str | None = None,
        keep_versions: int | None = None,
    ) -> str:
        """Run the pipeline into a new version folder and publish it; return its id.

        ``run`` is ``lomsong.pipeline.run_pipeline`` unless given (tests pass a failing one).
        On any failure nothing is published, the new folder is removed and the error re-raised.
        """
        if run is None:
            from lomsong.pipeline import run_pipeline

            run = run_pipeline
        vid = self.new_version_id()
        out = self.versions_dir / vid
        try:
            run(cfg, out, overwrite=False, progress=progress, cache_dir=self.cache_dir)
            if not self.is_complete(vid):
                raise LomsongError(f"{out}: the pipeline finished without "
                                   f"{' and '.join(REQUIRED_FILES)}")
            own_towers = out / "inputs" / "towers.csv"
            saved = cfg
            if own_towers.is_file() and hasattr(cfg, "replace"):
                # The version keeps its own copy of the tower rows: later versions start there.
                saved = cfg.replace(towers=(own_towers,))
            with self._tx() as c:
                c.execute("INSERT INTO versions (version_id, created_at, parent, job_id, config) "
                          "VALUES (?, ?, ?, ?, ?)",
                          (vid, time.time(), parent, job_id,
                           json.dumps(saved.to_dict(), ensure_ascii=False)))
            self.publish(vid)
        except BaseException:
            if out.exists() and self._safe_current() != vid:
                shutil.rmtree(out, ignore_errors=True)
            with contextlib.suppress(Exception), self._tx() as c:
                c.execute("DELETE FROM versions WHERE version_id = ?", (vid,))
            raise
        if keep_versions:
            self.prune(keep_versions)
        return vid

    def _safe_current(self) -> str | None:
        try:
            return self.current_id()
        except LomsongError:
            return None

    def version_config(self, version_id: str) -> Any:
        """The RunConfig a version was computed with (its towers = the version's own copy)."""
        row = self._conn().execute("SELECT config FROM versions WHERE version_id = ?",
                                   (check_version_id(version_id),)).fetchone()
        if row is None or row["config"] is None:
            raise NotFoundError(f"version {version_id}: no recorded configuration in "
                                f"{self.db_path}; it was not computed by this store")
        from lomsong.pipeline import RunConfig

        try:
            return RunConfig.from_dict(json.loads(row["config"]))
        except Exception as exc:  # written by another lomsong release
            raise LomsongError(f"version {version_id}: its configuration cannot be read by "
                               f"this lomsong ({type(exc).__name__}: {exc}); recompute it "
                               "from the CLI") from exc

    def prune(self, keep: int) -> list[str]:
        """Delete the oldest versions beyond ``keep`` (never the current one); return their ids."""
        cur = self._safe_current()
        ids = self.version_ids()
        doomed = [v for v in ids[: max(len(ids) - keep, 0)] if v != cur]
        for v in doomed:
            shutil.rmtree(self.versions_dir / v, ignore_errors=True)
            with self._tx() as c:
                c.execute("DELETE FROM versions WHERE version_id = ?", (v,))
        # Temporary folders of a crashed process; an hour old means no one is writing them.
        for p in self.versions_dir.glob(".*"):
            with contextlib.suppress(OSError):
                if p.is_dir() and time.time() - p.stat().st_mtime > 3600:
                    shutil.rmtree(p, ignore_errors=True)
        self.prune_cache(keep)
        return doomed

    def prune_cache(self, keep: int) -> list[str]:
        """Keep the ``keep`` newest cached rasters of each carrier and technology.

        The pipeline names them ``<carrier>_<RAT>_<inputs hash>.npz``; each upload of a carrier
        adds one.  A carrier that has not changed has one file, which stays.  Deleting a file
        that is still wanted only costs a recomputation, never a wrong result (the name is the
        hash of everything it depends on).
        """
        groups: dict[str, list[Path]] = {}
        now = time.time()
        removed: list[str] = []
        for p in self.cache_dir.glob("*.npz"):
            if p.name.endswith(".tmp.npz"):
                with contextlib.suppress(OSError):
                    if now - p.stat().st_mtime > 3600:  # left by a crashed run
                        p.unlink()
                        removed.append(p.name)
                continue
            groups.setdefault(p.name.rsplit("_", 1)[0], []).append(p)
        for files in groups.values():
            files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
            for p in files[keep:]:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p.name)
        return sorted(removed)

    def load_version(self, version_id: str) -> LoadedVersion:
        """Read a published version's outputs into memory."""
        return load_version_dir(self.version_dir(version_id), version_id)

    # ------------------------------------------------------------------- keys

    def add_key(self, role: str, carrier: str | None = None, label: str = "") -> tuple[ApiKey, str]:
        """Create an API key; return its record and the key text (shown once, never stored).

        Only sha256(secret) is stored.  The secret is 256 random bits, so a fast hash is enough:
        nobody can brute-force it from a stolen database, and unlike a password hash (bcrypt,
        argon2, made slow for low-entropy human passwords) it costs microseconds per request.
        """
        if role not in ROLES:
            raise InvalidInputError(f"--role {role!r}: expected one of {', '.join(ROLES)}")
        if role == "carrier":
            carrier = canonical_carrier(carrier, "--carrier")
        elif carrier:
            raise InvalidInputError(f"--carrier {carrier!r}: only a carrier key has a carrier")
        else:
            carrier = None
        with self._tx() as c:
            while True:
                key_id = secrets.token_hex(4)
                if c.execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)).fetchone() is None:
                    break
            secret = secrets.token_urlsafe(32)
            rec = ApiKey(key_id, role, carrier, label, time.time())
            c.execute("INSERT INTO api_keys (key_id, secret_sha256, role, carrier, label, created_at)"
                      " VALUES (?, ?, ?, ?, ?, ?)",
                      (key_id, sha256_hex(secret), role, carrier, label, rec.created_at))
        return rec, f"lsk_{key_id}_{secret}"

    def authenticate(self, key: str | None) -> ApiKey | None:
        """The live key matching ``key``, or None.  The hash is compared in constant time."""
        if not key:
            return None
        m = KEY_RE.match(key.strip())
        if m is None:
            return None
        key_id, secret = m.group(1), m.group(2)
        row = self._conn().execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        # Hash even when the id is unknown, so the timing does not tell which ids exist.
        given = sha256_hex(secret)
        stored = row["secret_sha256"] if row is not None else "0" * 64
        if not hmac.compare_digest(given, stored) or row is None or row["revoked_at"] is not None:
            return None
        return _key_of(row)

    def list_keys(self) -> list[ApiKey]:
        rows = self._conn().execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        return [_key_of(r) for r in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._tx() as c:
            row = c.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"key id {key_id!r}: no such key in {self.db_path}")
            c.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (time.time(), key_id))
            c.execute("DELETE FROM sessions WHERE key_id = ?", (key_id,))
        return _key_of(row)

    # --------------------------------------------------------------- sessions

    def create_session(self, key_id: str, ttl_s: float) -> str:
        """A new browser session for a key; return the token (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._tx() as c:
            c.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            c.execute("INSERT INTO sessions (token_sha256, key_id, created_at, expires_at) "
                      "VALUES (?, ?, ?, ?)", (sha256_hex(token), key_id, now, now + ttl_s))
        return token

    def session_key(self, token: str | None) -> ApiKey | None:
        """The live key behind a session token, or None (unknown, expired or revoked)."""
        if not token or len(token) > 100:
            return None
        h = sha256_hex(token)
        row = self._conn().execute(
            "SELECT s.token_sha256 AS th, s.expires_at AS exp, k.* FROM sessions s "
            "JOIN api_keys k ON k.key_id = s.key_id WHERE s.token_sha256 = ?", (h,)).fetchone()
        if row is None or not hmac.compare_digest(row["th"], h):
            return None
        if row["exp"] < time.time() or row["revoked_at"] is not None:
            return None
        return _key_of(row)

    def delete_session(self, token: str | None) -> None:
        if token:
            with self._tx() as c:
                c.execute("DELETE FROM sessions WHERE token_sha256 = ?", (sha256_hex(token),))

    # ------------------------------------------------------------------- jobs

    def create_job(self, kind: str, *, carrier: str | None, key_id: str | None,
                   base_version: str | None) -> JobRecord:
        job_id = secrets.token_hex(16)
        with self._tx() as c:
            c.execute("INSERT INTO jobs (job_id, kind, state, carrier, key_id, base_version, "
                      "created_at) VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                      (job_id, kind, carrier, key_id, base_version, time.time()))
        return self.get_job(job_id)

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"state", "step", "progress", "error", "problems", "version_id", "base_version",
                   "started_at", "finished_at"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown job field(s) {sorted(bad)}")
        if "state" in fields and fields["state"] not in JOB_STATES:
            raise ValueError(f"state={fields['state']!r}")
        if "problems" in fields and fields["problems"] is not None:
            fields["problems"] = json.dumps(list(fields["problems"]), ensure_ascii=False)
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as c:
            c.execute(f"UPDATE jobs SET {cols} WHERE job_id = ?", (*fields.values(), job_id))

    def get_job(self, job_id: str) -> JobRecord:
        row = self._conn().execute("SELECT * FROM jobs WHERE job_id = ?",
                                   (check_job_id(job_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"job {job_id}: no such job")
        return JobRecord(
            job_id=row["job_id"], kind=row["kind"], state=row["state"], step=row["step"],
            progress=float(row["progress"]), error=row["error"],
            problems=tuple(json.loads(row["problems"])) if row["problems"] else (),
            carrier=row["carrier"], key_id=row["key_id"], base_version=row["base_version"],
            version_id=row["version_id"], created_at=row["created_at"],
            started_at=row["started_at"], finished_at=row["finished_at"])

    def count_jobs(self, *states: str) -> int:
        q = f"SELECT COUNT(*) FROM jobs WHERE state IN ({','.join('?' * len(states))})"
        return int(self._conn().execute(q, states).fetchone()[0])

    def fail_unfinished_jobs(self, reason: str) -> int:
        """Mark jobs a previous process left queued or running as failed; return how many."""
        with self._tx() as c:
            n = c.execute("UPDATE jobs SET state = 'failed', error = ?, finished_at = ? "
                          "WHERE state IN ('queued', 'running')", (reason, time.time())).rowcount
        return int(n)


def _key_of(row: sqlite3.Row) -> ApiKey:
    return ApiKey(key_id=row["key_id"], role=row["role"], carrier=row["carrier"],
                  label=row["label"], created_at=row["created_at"], revoked_at=row["revoked_at"])


def canonical_carrier(name: str | None, what: str = "carrier") -> str:
    """A carrier's canonical name (``viettel`` -> ``Viettel``); InvalidInputError otherwise."""
    from lomsong.coverage.models import CARRIERS

    if not name or not name.strip():
        raise InvalidInputError(f"{what}: a carrier name is required, one of {', '.join(CARRIERS)}")
    key = name.strip().casefold()
    for c in CARRIERS:
        if c.casefold() == key:
            return c
    try:
        from lomsong.geodata.towers import CARRIER_ALIASES

        if key in CARRIER_ALIASES:
            return CARRIER_ALIASES[key]
    except ImportError:  # pragma: no cover - towers.py is part of the package
        pass
    raise InvalidInputError(f"{what}={name!r}: unknown carrier, expected one of {', '.join(CARRIERS)}")


# ---------------------------------------------------------------------- loading a version

_TEXT_TOWER_COLUMNS = {"cell_id", "site_id", "carrier", "rat", "name", "source", "area", "cell"}


def _typed(col: str, raw: str) -> Any:
    if raw == "":
        return None
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if col in _TEXT_TOWER_COLUMNS:
        return raw
    try:
        v = float(raw)
    except ValueError:
        return raw
    return int(v) if v.is_integer() and "." not in raw and "e" not in low else v


def read_csv_rows(data: bytes) -> list[dict]:
    """Rows of a UTF-8 (BOM or not) CSV file, with numbers and booleans typed."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [{k: _typed(k, (v or "").strip()) for k, v in row.items() if k is not None}
            for row in reader]


def load_version_dir(path: Path, version_id: str) -> LoadedVersion:
    """Read a version folder written by ``run_pipeline`` (see the contract in the module doc)."""
    from shapely.geometry import shape

    from lomsong.coverage.gaps import GapRecord, ServiceMark, column_key
    from lomsong.coverage.models import CARRIERS, RATS

    summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    fc = json.loads((path / "villages.geojson").read_text(encoding="utf-8"))
    run_info: dict = {}
    if (path / "run.json").is_file():
        run_info = json.loads((path / "run.json").read_text(encoding="utf-8"))

    # summary.json lists the run's carriers; order them as the pipeline does (the national
    # list first), so that flat() gives the pipeline's column order.
    named = list((summary.get("carriers") or {}).keys())
    carriers = sorted(named, key=lambda c: (CARRIERS.index(c) if c in CARRIERS else len(CARRIERS),
                                            c))
    feats = fc.get("features") or []
    # Technologies the run reports (a technology no tower has is left out of every output).
    techs = summary.get("technologies")
    rats = tuple(r for r in RATS if r.lower() in techs) if isinstance(techs, list) else RATS

    records = []
    for f in feats:
        p = f["properties"]
        marks = []
        for c in carriers:
            for rat in rats:
                pre = f"{column_key(c)}_{rat.lower()}"
                if f"{pre}_status" not in p:
                    continue
                marks.append(ServiceMark(
                    carrier=c, rat=rat, best_dbm=p.get(f"{pre}_best_dbm"), serving_cell=None,
                    serving_site=p.get(f"{pre}_serving_site"),
                    share_above=float(p.get(f"{pre}_share_above") or 0.0),
                    p_cov=float(p.get(f"{pre}_p_cov") or 0.0), status=p[f"{pre}_status"]))
        geom = f.get("geometry")
        records.append(GapRecord(
            village_id=str(p["id"]), name=p.get("name") or "", lon=float(p["lon"]),
            lat=float(p["lat"]), commune=p.get("commune"), commune_code=p.get("commune_code"),
            population=p.get("population"), households=p.get("households"), marks=tuple(marks),
            no_mobile=bool(p.get("no_mobile")), weak_mobile=bool(p.get("weak_mobile")),
            fiber_distance_m=p.get("fiber_distance_m"), no_fiber=p.get("no_fiber"),
            footprint_cells=int(p.get("footprint_cells") or 0),
            geometry=shape(geom) if geom else None))

    towers: list[dict] = []
    if (path / "towers.csv").is_file():
        towers = read_csv_rows((path / "towers.csv").read_bytes())

    crs, bounds = None, None
    tifs = sorted((path / "coverage").glob("*.tif")) if (path / "coverage").is_dir() else []
    if tifs:
        import rasterio

        with rasterio.open(tifs[0]) as src:
            crs = src.crs.to_string() if src.crs else None
            b = src.bounds
            bounds = (b.left, b.bottom, b.right, b.top)
    map_html = (path / "map_served.html").read_bytes() if (path / "map_served.html").is_file() \
        else None
    return LoadedVersion(
        version_id=version_id, path=path, summary=summary, carriers=tuple(carriers), rats=rats,
        records=tuple(records), by_id={r.village_id: r for r in records}, towers=tuple(towers),
        crs=crs, bounds=bounds, has_fiber=any(r.no_fiber is not None for r in records),
        run_info=run_info, map_html=map_html)


class VersionCache:
    """The served version, held in memory and reloaded when ``current`` changes.

    Each call costs one ``stat`` of ``current``; a new file (publish) is seen at the next request.
    If a version fails to load, the one already held keeps being served.  ``memo`` keeps rendered
    responses of the held version (at most ``entries``, the oldest dropped first), all dropped
    when the version changes: a version never changes once published, so none can go stale.
    """

    def __init__(self, store: Store, entries: int = 512) -> None:
        self.store = store
        self.entries = entries
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._version: LoadedVersion | None = None
        self._memo: dict[tuple, Any] = {}

    def peek(self) -> LoadedVersion | None:
        """The held version if ``current`` has not changed since it was loaded, else None.

        One ``stat``, no reading: cheap enough for the event loop.
        """
        v = self._version
        if v is not None and self.store.current_stamp() == self._stamp:
            return v
        return None

    def get(self) -> LoadedVersion | None:
        """The current version, or None when nothing is published."""
        stamp = self.store.current_stamp()
        v = self._version
        if stamp is not None and stamp == self._stamp and v is not None:
            return v
        with self._lock:
            if stamp == self._stamp and self._version is not None:
                return self._version
            vid = self.store._safe_current()
            if vid is None:
                return self._version
            if self._version is not None and self._version.version_id == vid:
                self._stamp = stamp
                return self._version
            try:
                loaded = self.store.load_version(vid)
            except Exception:
                log.exception("version %s could not be loaded; still serving %s", vid,
                              self._version.version_id if self._version else "nothing")
                return self._version
            self._version, self._stamp, self._memo = loaded, stamp, {}
            log.info("serving version %s", vid)
            return loaded

    def memo(self, version: LoadedVersion, key: tuple, build: Callable[[], Any]) -> Any:
        """``build()``'s result for ``key`` in ``version``, computed once while it is served."""
        if self.entries <= 0:
            return build()
        full = (version.version_id, *key)
        memo = self._memo
        hit = memo.get(full)
        if hit is not None:
            return hit
        value = build()
        with self._lock:
            if self._version is version:
                if len(self._memo) >= self.entries:
                    self._memo.pop(next(iter(self._memo)))  # oldest first (dicts keep order)
                self._memo[full] = value
        return value
