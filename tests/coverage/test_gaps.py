"""Marking villages: footprints, coverage probability, statuses, lõm sóng, fiber, summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine

from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.gaps import (
    GapRules,
    Village,
    footprint_cells,
    mark_service,
    mark_villages,
    summarize,
)
from lomsong.coverage.models import ServiceRasters

T = Affine(90.0, 0, 500000.0, 0, -90.0, 2400000.0)


def _svc(carrier, rat, value, shape=(20, 20)):
    best = np.full(shape, value, dtype=np.float32)
    server = np.where(np.isfinite(best), 0, -1).astype(np.int32)
    return ServiceRasters(carrier, rat, best, server, (f"{carrier}-{rat}-1",), T, "EPSG:32648")


def _village(vid="v1", r=10, c=10, radius=2.0, **kw):
    rr, cc = footprint_cells((20, 20), r, c, radius)
    return Village(village_id=vid, name=kw.pop("name", "Bản Tày"), lon=105.8, lat=21.6,
                   rows=rr, cols=cc, **kw)


def test_footprint_disc_and_edges():
    rr, cc = footprint_cells((20, 20), 10, 10, 1.0)
    assert sorted(zip(rr.tolist(), cc.tolist(), strict=True)) == [(9, 10), (10, 9), (10, 10), (10, 11), (11, 10)]
    rr, cc = footprint_cells((20, 20), 0, 0, 1.0)  # clipped at the corner
    assert sorted(zip(rr.tolist(), cc.tolist(), strict=True)) == [(0, 0), (0, 1), (1, 0)]
    rr, cc = footprint_cells((20, 20), 10.2, 10.3, 0.0)  # radius below a cell: the cell under it
    assert (rr.tolist(), cc.tolist()) == ([10], [10])
    assert footprint_cells((20, 20), 25, 5, 3.0)[0].size == 0  # off the grid


def test_mark_service_probability_matches_normal_cdf():
    vals = np.array([-110.0, -110.0, -102.0, np.nan], dtype=np.float32)
    srv = np.array([0, 1, 2, -1], dtype=np.int32)
    best, k, share, p = mark_service(vals, srv, threshold_dbm=-110.0, sigma_db=8.0)
    assert best == -102.0 and k == 2
    assert share == pytest.approx(3 / 4)
    q1 = 0.5 * math.erfc(-1 / math.sqrt(2))  # P(N(0,1) > -1)
    assert p == pytest.approx((0.5 + 0.5 + q1 + 0.0) / 4, rel=1e-9)
    assert mark_service(np.full(3, np.nan), np.full(3, -1), -110, 8) == (None, -1, 0.0, 0.0)


def test_statuses_lom_song_and_weak():
    rules = GapRules()
    vil = [_village("strong"), _village("edge", r=5), _village("none", r=15)]
    svcs = [_svc("Viettel", "4G", -80.0), _svc("MobiFone", "3G", np.nan)]
    svcs[0].best_dbm[5, :] = -108.0  # a marginal strip around row 5
    svcs[0].best_dbm[3:8, :] = -108.0
    svcs[0].best_dbm[13:18, :] = np.nan  # nothing reaches the third village
    recs = mark_villages(vil, svcs, {"Viettel-4G-1": "S1"}, rules, ("Viettel", "MobiFone"), False)
    strong, edge, none = recs
    assert strong.mark("Viettel", "4G").status == "covered"
    assert strong.mark("Viettel", "4G").serving_site == "S1"
    assert edge.mark("Viettel", "4G").status == "marginal"
    assert none.mark("Viettel", "4G").status == "gap"
    assert strong.mark("MobiFone", "3G").status == "gap"
    assert strong.mark("MobiFone", "5G").status == "gap"  # no such towers at all
    assert (strong.no_mobile, edge.no_mobile, none.no_mobile) == (False, False, True)
    assert (strong.weak_mobile, edge.weak_mobile, none.weak_mobile) == (False, True, False)
    assert strong.no_fiber is None


def test_2g_alone_is_still_lom_song():
    recs = mark_villages([_village()], [_svc("Viettel", "2G", -60.0)], {}, GapRules(),
                         ("Viettel",), False)
    assert recs[0].mark("Viettel", "2G").status == "covered" and recs[0].no_mobile


def test_fiber_distance_rule():
    near = _village("near", fiber_distance_m=400.0)
    far = _village("far", fiber_distance_m=2500.0)
    recs = mark_villages([near, far], [], {}, GapRules(fiber_max_distance_m=1000), ("Viettel",), True)
    assert [r.no_fiber for r in recs] == [False, True]


def test_summary_counts_and_communes():
    vil = [_village("a", commune="Xã Chợ Rã", population=100),
           _village("b", r=15, commune="Xã Chợ Rã", population=50),
           _village("c", r=5, commune="Phường Đức Xuân")]
    s = _svc("Viettel", "4G", -80.0)
    s.best_dbm[13:18, :] = np.nan
    recs = mark_villages(vil, [s], {}, GapRules(), ("Viettel",), False)
    summ = summarize(recs, ("Viettel",))
    assert summ["villages_total"] == 3 and summ["villages_no_mobile"] == 1
    assert summ["population_no_mobile"] == 50
    assert summ["carriers"]["Viettel"]["4g"] == {"gap": 1, "marginal": 0, "covered": 2}
    assert summ["communes"]["Xã Chợ Rã"]["villages_no_mobile"] == 1
    assert "villages_no_fiber" not in summ  # no fiber layer given


def test_flat_filters_carriers_and_keeps_diacritics():
    recs = mark_villages([_village(name="Thôn Nà Tòng")], [_svc("Viettel", "4G", -80.0)], {},
                         GapRules(), ("Viettel", "MobiFone"), False)
    flat = recs[0].flat(("Viettel",))
    assert flat["name"] == "Thôn Nà Tòng"
    assert "viettel_4g_status" in flat and not any(k.startswith("mobifone") for k in flat)
    assert not any(k.startswith(("viettel", "mobifone")) for k in recs[0].flat(()))


@pytest.mark.parametrize("kw", [dict(sigma_db=-1), dict(covered_p=1.5), dict(marginal_p=0.95),
                                dict(threshold_dbm={"4G": -10.0}),
                                dict(threshold_dbm={"6G": -100.0})])
def test_rules_reject_nonsense(kw):
    with pytest.raises(InvalidInputError):
        GapRules(**kw)
