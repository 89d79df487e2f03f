"""Our ITM map (``--model itm``) against SPLAT! 1.4.2's Longley-Rice map (``-olditm``).

Same model (ITM 1.2.2 point-to-point), same radio parameters (a matching ``.lrp``: climate,
N_0, ground, polarisation, 50 % of time and situations; SPLAT! fixes the mode of variability
itself, which at 50 % changes nothing), same SRTM tile.
What differs is the terrain profile under each path: SPLAT! reads the geographic tile
nearest-neighbour along a great circle, we read it reprojected to UTM at 90 m (bilinear) and
bilinear again along our rays, which smooths ridges a little.  ITM is very sensitive to which
sample is the horizon, so single cells can differ by tens of dB either way, but the medians
must agree: within 3 dB (the issue's bound; measured -1.8 dB here, -0.3 to -2.3 dB at the five
benchmark sites at 5 km, -0.5 to -2.9 dB at 20 km: ours lower, from the smoothing).  Where
SPLAT! finds the path unobstructed the two agree much more closely (measured median
+0.1 dB here, -0.5 to +0.2 dB at the other sites); on identical profiles the two ITMs agree
to 0.01 dB for 98 % of receivers (``benchmarks/bench_itm.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.splat_peer import prepare_sdf, raster_at, run_splat_pathloss, splat_available
from lomsong.coverage import itm
from lomsong.coverage import pathloss as pl

pytestmark = [pytest.mark.peer, pytest.mark.shared]

LON, LAT, RADIUS_KM = 105.64, 21.63, 5.0  # Đại Từ: valleys and ridges, well inside the tile
HEIGHT_M, FREQ_MHZ = 30.0, 1800.0


def test_itm_map_median_within_3_db_of_splat(tmp_path_factory):
    if not splat_available():
        pytest.skip("needs splat and srtm2sdf (Debian package splat)")
    from lomsong.geodata.dem import lonlat_to_xy, read_dem
    from tests.conftest import shared_file

    hgt = shared_file("dem/N21E105.hgt")
    d = itm.ITM_MAP_DEFAULTS
    sdf = prepare_sdf(hgt, tmp_path_factory.mktemp("sdf"))
    splat = run_splat_pathloss(
        sdf, LON, LAT, HEIGHT_M, FREQ_MHZ, RADIUS_KM, eps=d["epsilon"], sigma=d["sigma"],
        n0=d["n_0"], climate=int(d["climate"]), polarization=int(d["polarization"]),
        situations=d["situation_pct"] / 100.0, time_fraction=d["time_pct"] / 100.0,
    )
    dem = read_dem(hgt, dst_crs="EPSG:32648", resolution_m=90.0)
    x, y = lonlat_to_xy(dem.crs, LON, LAT)
    ours_map = pl.path_loss_map(dem, x, y, tx_height_m=HEIGHT_M, frequency_mhz=FREQ_MHZ,
                                radius_m=RADIUS_KM * 1000.0, model="itm")
    ours = raster_at(ours_map, dem.crs, splat.lon, splat.lat)
    common = np.isfinite(ours) & np.isfinite(splat.loss_db)
    assert common.sum() > 8000  # about pi 5^2 km^2 of 3-arc-second points
    diff = ours[common] - splat.loss_db[common]
    assert abs(np.median(diff)) < 3.0
    clear = ~splat.obstructed[common]
    assert clear.sum() > 300
    assert abs(np.median(diff[clear])) < 1.0
    assert np.corrcoef(ours[common], splat.loss_db[common])[0, 1] > 0.8
