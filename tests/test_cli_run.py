"""`lomsong run` and `lomsong sample export` as a user runs them: real processes, real files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest


def lomsong(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "lomsong.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


@pytest.mark.slow
def test_bundled_sample_end_to_end(tmp_path):
    """The bundled sample runs on a fresh install, prints the headline counts, and every
    output agrees with summary.json (all come from one set of records)."""
    out = tmp_path / "out"
    res = lomsong("run", "-o", str(out), "--no-cache")
    assert res.returncode == 0, res.stderr
    assert "bundled Thái Nguyên sample" in res.stdout and "ILLUSTRATIVE" in res.stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert f"(lõm sóng):      {summary['villages_no_mobile']}" in res.stdout
    assert summary["towers_illustrative"] is True and summary["fiber_is_proxy"] is True
    # neither empty nor everything, as the sample was built to be
    assert 0 < summary["villages_no_mobile"] < summary["villages_total"]
    assert 0 < summary["villages_no_fiber"] < summary["villages_total"]

    feats = json.loads((out / "villages.geojson").read_text(encoding="utf-8"))["features"]
    assert len(feats) == summary["villages_total"]
    assert sum(f["properties"]["no_mobile"] for f in feats) == summary["villages_no_mobile"]
    assert any("Thái Nguyên" in f["properties"]["name"] for f in feats)
    import geopandas as gpd

    gpkg = gpd.read_file(out / "villages.gpkg")
    assert len(gpkg) == len(feats) and int(gpkg["no_mobile"].sum()) == summary["villages_no_mobile"]
    for carrier, d in summary["carriers"].items():
        raw = (out / "gaps" / f"{carrier.lower()}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
        assert len(rows) == d["broadband_not_covered"]
        assert sum(r["status"] == "gap" for r in rows) == d["broadband_gap"]
        for rat in summary["technologies"]:
            assert (out / "coverage" / f"{carrier.lower()}_{rat}.tif").exists() or \
                d[rat]["gap"] == summary["villages_total"]
    lom = list(csv.DictReader((out / "gaps" / "lom_song.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert len(lom) == summary["villages_no_mobile"]
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "minh họa" in page and "illustrative" in page.lower()
    run_meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run_meta["towers_illustrative"] and run_meta["inputs"]["dem"]["voids_filled"] > 0

    # No overwrite without --overwrite: exit 3, nothing touched.
    before = (out / "summary.json").read_bytes()
    res = lomsong("run", "-o", str(out))
    assert res.returncode == 3 and "--overwrite" in res.stderr
    assert (out / "summary.json").read_bytes() == before


def test_sample_export_then_bad_towers_exit_2_and_nothing_published(tmp_path):
    d = tmp_path / "mine"
    res = lomsong("sample", "export", str(d))
    assert res.returncode == 0, res.stderr
    assert {"lomsong.toml", "dem.tif", "towers.csv", "villages.csv", "README.md"} <= {
        p.name for p in d.iterdir()}
    assert lomsong("sample", "export", str(d)).returncode == 3  # no silent overwrite
    towers = d / "towers.csv"
    lines = towers.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("height_m")] = "-5"
    lines[5] = ",".join(row)
    towers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    res = lomsong("run", "--config", str(d / "lomsong.toml"), "-o", str(out))
    assert res.returncode == 2
    assert "towers.csv row 6: height_m=-5, must be between" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_run_flag_errors_name_the_flag(tmp_path):
    res = lomsong("run", "--dem", str(tmp_path / "nope.tif"), "--towers", "x.csv",
                  "--villages", "v.csv", "-o", str(tmp_path / "o"))
    assert res.returncode == 2 and "--dem=" in res.stderr and "no such file" in res.stderr
    res = lomsong("run", "--model", "magic", "-o", str(tmp_path / "o"))
    assert res.returncode == 2 and "--model=magic" in res.stderr
    res = lomsong("run", "--dem", str(tmp_path / "nope.tif"), "-o", str(tmp_path / "o"))
    assert res.returncode == 2 and "--towers is needed" in res.stderr
