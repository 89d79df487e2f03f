"""Whole bundled-sample run: wall time and peak memory, full and incremental.

    python benchmarks/bench_run.py [--reps 3]

Each measurement is a fresh `lomsong run` process (so start-up, imports and the Numba cache load
are counted, as a user or `lomsong serve` pays them), after one warm-up run that compiles the
kernels.  Scenarios:

* full: no coverage cache (everything computed), the issue's target is < 60 s on 2 cores;
* unchanged: same inputs with a warm coverage cache (a batch rerun after nothing changed);
* one carrier changed: Viettel's towers edited (heights +3 m), cache warm for the others.

Peak memory is the child process's maximum resident set size (getrusage).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lomsong.cli", "-q", "run", *args],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"lomsong run failed:\n{proc.stdout}\n{proc.stderr}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: report it only if it grew
    return wall, max(peak_kib, before) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lomsong-bench-run-"))
    try:
        sample = work / "sample"
        subprocess.run([sys.executable, "-m", "lomsong.cli", "sample", "export", str(sample)],
                       check=True, capture_output=True)
        cfg = sample / "lomsong.toml"
        print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        print("warm-up (compiles kernels if the Numba cache is cold) ...", flush=True)
        w, _ = run(["--config", str(cfg), "-o", str(work / "warm"), "--no-cache", "--overwrite"])
        print(f"  warm-up run: {w:.1f} s")

        full, peaks = [], []
        for i in range(args.reps):
            t, peak = run(["--config", str(cfg), "-o", str(work / f"full{i}"), "--no-cache"])
            full.append(t)
            peaks.append(peak)
        cache = work / "cache"
        run(["--config", str(cfg), "-o", str(work / "prime"), "--cache-dir", str(cache)])
        same = [run(["--config", str(cfg), "-o", str(work / f"same{i}"), "--cache-dir",
                     str(cache)])[0] for i in range(args.reps)]
        # One carrier changes: Viettel's masts 3 m higher.
        towers = sample / "towers.csv"
        rows = list(csv.DictReader(io.StringIO(towers.read_text(encoding="utf-8"))))
        changed = []
        for i in range(args.reps):
            for r in rows:
                if r["carrier"] == "Viettel":
                    r["height_m"] = f"{float(r['height_m']) + 3:.1f}"
            buf = io.StringIO()
            w_ = csv.DictWriter(buf, fieldnames=list(rows[0].keys()), lineterminator="\n")
            w_.writeheader()
            w_.writerows(rows)
            towers.write_text(buf.getvalue(), encoding="utf-8")
            changed.append(run(["--config", str(cfg), "-o", str(work / f"chg{i}"),
                                "--cache-dir", str(cache)])[0])
        print(f"\nbundled sample, {args.reps} reps each (median, min-max):")
        print(f"  full run (no cache)        {statistics.median(full):6.1f} s  "
              f"({min(full):.1f}-{max(full):.1f})   peak RSS {max(peaks):.0f} MiB")
        print(f"  unchanged inputs (cached)  {statistics.median(same):6.1f} s  "
              f"({min(same):.1f}-{max(same):.1f})")
        print(f"  Viettel towers changed     {statistics.median(changed):6.1f} s  "
              f"({min(changed):.1f}-{max(changed):.1f})")
        print(f"  target: full run < 60 s on 2 cores -> "
              f"{'met' if statistics.median(full) < 60 else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
