"""Load test of ``GET /api/v1/gaps`` on a real uvicorn server on 127.0.0.1.

Starts ``lomsong serve`` (one process, as deployed) on a free loopback port, drives it with
``--concurrency`` clients (httpx.AsyncClient, one connection each), and prints per-request
latency (median, p99) and throughput for each variant, one after the other on the same server:

* ``health``         GET /api/v1/health: no key, no data; the floor of the stack.
* ``gaps-json``      GET /api/v1/gaps (lõm sóng list, planner key, JSON).
* ``gaps-csv``       GET /api/v1/gaps?carrier=Viettel&format=csv (carrier key).
* ``gaps-geojson``   GET /api/v1/gaps?carrier=Viettel&format=geojson (planner key).

Then the same ``gaps-*`` variants on a second server with the response memo off
(``LOMSONG_CACHE_ENTRIES=0``), which renders every answer from the in-memory records.

Each variant is driven twice: by the Python client, then (if ``wrk`` is on PATH, e.g.
``apt-get install wrk``) by ``wrk`` with the same number of connections, a C client whose own
cost is negligible, so the two rows show how much of the figure is the Python client.

Bounded: each variant runs for ``--seconds`` or ``--max-requests``, whichever comes first; the
servers are stopped at the end (and on any error).  The store is a copy of ``--store`` if given (it
must hold a published version), else the bundled sample computed once into ``--work`` (default
``bench-out/bench_api``, git-ignored) and reused by later runs.

    python benchmarks/bench_api.py                      # sample store, 50 clients, 8 s each
                                                        # (first run computes it: ~3 min)
    python benchmarks/bench_api.py --store /srv/lomsong --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

API = "/api/v1"
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_store(store: Path | None, work: Path) -> tuple[Path, str, str]:
    """A store with a published version and two keys (planner, Viettel)."""
    from lomsong.app.store import Store

    if store is not None:
        # Work on a copy: the benchmark adds keys, and must not touch a real store.
        copy = work / "store-copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(store, copy, ignore=shutil.ignore_patterns("cache", "uploads"))
        store = copy
    else:
        store = work / "sample-store"
        s = Store(store).open()
        if s.current_id() is None:
            from lomsong.pipeline import sample_config

            print(f"computing the bundled sample into {store} (once) ...", flush=True)
            t0 = time.perf_counter()
            s.compute_version(sample_config())
            print(f"  done in {time.perf_counter() - t0:.1f} s", flush=True)
    s = Store(store).open()
    if s.current_id() is None:
        raise SystemExit(f"{store}: no published version")
    _, planner = s.add_key("planner", label="bench_api")
    _, carrier = s.add_key("carrier", "Viettel", label="bench_api")
    s.close()
    return store, planner, carrier


class Server:
    """``lomsong serve`` in a child process on a free loopback port."""

    def __init__(self, store: Path, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"serve-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lomsong.cli", "-q", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--store", str(store), "--no-sample"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "LOMSONG_WARM_KERNELS": "0", **env})

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.base}{API}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {timeout_s} s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.log.close()


async def drive(base: str, path: str, params: dict, headers: dict, concurrency: int,
                seconds: float, max_requests: int) -> dict:
    """Run ``concurrency`` clients against one URL; return latency and throughput figures."""
    import httpx

    lat: list[float] = []
    errors = 0
    sizes: set[int] = set()
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=30) as client:
        for _ in range(min(concurrency, 20)):  # warm the connections and the server's memo
            await client.get(path, params=params)

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at and len(lat) + errors < max_requests:
                t0 = time.perf_counter()
                r = await client.get(path, params=params)
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    errors += 1
                    continue
                lat.append(dt)
                sizes.add(len(r.content))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    return {
        "n": n, "errors": errors, "wall_s": wall, "rps": n / wall if wall else 0.0,
        "median_ms": statistics.median(lat) * 1e3 if n else float("nan"),
        "p99_ms": lat[min(n - 1, int(0.99 * n))] * 1e3 if n else float("nan"),
        "bytes": max(sizes) if sizes else 0,
    }


def _ms(text: str) -> float:
    for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def drive_wrk(base: str, path: str, params: dict, headers: dict, concurrency: int,
              seconds: float) -> dict | None:
    """The same load from ``wrk`` (C, two threads), if installed: a client with ~no overhead."""
    import re
    from urllib.parse import urlencode

    exe = shutil.which("wrk")
    if exe is None:
        return None
    url = base + path + (("?" + urlencode(params)) if params else "")
    cmd = [exe, "-t2", f"-c{concurrency}", f"-d{max(int(seconds), 1)}s", "--latency",
           "--timeout", "30s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: .*", out)
    if rps is None or n is None or "50" not in pct:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return {"n": int(n.group(1)), "errors": int(bad.group(1)) if bad else 0,
            "rps": float(rps.group(1)), "median_ms": _ms(pct["50"]),
            "p99_ms": _ms(pct.get("99", "nan")), "bytes": 0,
            "note": errs.group(0) if errs else ""}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, help="A store with a published version.")
    ap.add_argument("--work", type=Path, default=REPO / "bench-out" / "bench_api",
                    help="Where the sample store is kept between runs (default: %(default)s).")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=8.0, help="Per variant.")
    ap.add_argument("--max-requests", type=int, default=20000, help="Per variant.")
    ap.add_argument("--no-cold", action="store_true", help="Skip the memo-off server.")
    ap.add_argument("--no-wrk", action="store_true", help="Skip the wrk client even if found.")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="lomsong-bench-"))
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    try:
        store, planner, carrier = prepare_store(args.store, work)
        variants = [
            ("health", f"{API}/health", {}, {}),
            ("gaps-json", f"{API}/gaps", {}, {"X-API-Key": planner}),
            ("gaps-csv", f"{API}/gaps", {"carrier": "Viettel", "format": "csv"},
             {"X-API-Key": carrier}),
            ("gaps-geojson", f"{API}/gaps", {"carrier": "Viettel", "format": "geojson"},
             {"X-API-Key": planner}),
        ]
        runs = [("memo on", {}, variants)]
        if not args.no_cold:
            runs.append(("memo off", {"LOMSONG_CACHE_ENTRIES": "0"},
                         [v for v in variants if v[0] != "health"]))
        print(f"lomsong API benchmark: {args.concurrency} concurrent clients, up to "
              f"{args.seconds:g} s or {args.max_requests} requests per variant; "
              f"{platform.python_implementation()} {platform.python_version()}, "
              f"{os.cpu_count()} CPUs (client and server share them)")
        print(f"{'server':9} {'client':6} {'variant':13} {'requests':>8} {'errors':>6} "
              f"{'req/s':>8} {'median ms':>10} {'p99 ms':>8} {'bytes':>8}")

        def row(label: str, client: str, name: str, res: dict) -> None:
            print(f"{label:9} {client:6} {name:13} {res['n']:8d} {res['errors']:6d} "
                  f"{res['rps']:8.0f} {res['median_ms']:10.2f} {res['p99_ms']:8.2f} "
                  f"{res['bytes'] or '':>8} {res.get('note', '')}", flush=True)

        for label, env, vs in runs:
            srv = Server(store, env, tmp)
            servers.append(srv)
            srv.wait_ready()
            for name, path, params, headers in vs:
                res = asyncio.run(drive(srv.base, path, params, headers, args.concurrency,
                                        args.seconds, args.max_requests))
                row(label, "httpx", name, res)
                if not args.no_wrk:
                    peer = drive_wrk(srv.base, path, params, headers, args.concurrency,
                                     args.seconds)
                    if peer is not None:
                        row(label, "wrk", name, peer)
            srv.stop()
            servers.remove(srv)
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work / "store-copy", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
