"""Every endpoint and every access rule, with TestClient over the session's tiny store."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.app.conftest import LOM_SONG, VILLAGES, make_client

API = "/api/v1"
PROTECTED = [
    ("GET", f"{API}/carriers"), ("GET", f"{API}/summary"), ("GET", f"{API}/gaps"),
    ("GET", f"{API}/villages/v-mid"), ("GET", f"{API}/towers"), ("POST", f"{API}/towers"),
    ("GET", f"{API}/jobs/{'0' * 32}"),
]


def h(key: str) -> dict:
    return {"X-API-Key": key}


def vdir(info):
    return info.root / "versions" / info.version_id


def csv_rows(body: bytes) -> list[dict]:
    assert body.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


# ----------------------------------------------------------------------------- health, auth


def test_health_needs_no_key(client, base_store):
    r = client.get(f"{API}/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["version_id"] == base_store.version_id
    assert body["jobs_waiting"] == 0
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("method,path", PROTECTED)
def test_no_key_is_401(client, method, path):
    r = client.request(method, path)
    assert r.status_code == 401
    assert "X-API-Key" in r.json()["detail"]
    assert "www-authenticate" in r.headers


@pytest.mark.parametrize("method,path", PROTECTED)
def test_wrong_key_is_401(client, base_store, method, path):
    forged = base_store.planner[:-4] + ("AAAA" if not base_store.planner.endswith("AAAA")
                                         else "BBBB")
    for key in (forged, "lsk_nothex00_" + "a" * 43, "x" * 300):
        r = client.request(method, path, headers=h(key))
        assert r.status_code == 401, key


def test_openapi_documents_every_endpoint_and_the_key(client):
    doc = client.get("/openapi.json").json()
    for p in ("/health", "/carriers", "/summary", "/gaps", "/villages/{village_id}", "/towers",
              "/jobs/{job_id}"):
        assert f"{API}{p}" in doc["paths"], p
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": doc["components"]["securitySchemes"]["ApiKey"]["description"]}
    assert "post" in doc["paths"][f"{API}/towers"]
    assert "422" in doc["paths"][f"{API}/towers"]["post"]["responses"]


# ---------------------------------------------------------------------------- carriers, summary


def test_carriers_scope(client, base_store):
    planner = client.get(f"{API}/carriers", headers=h(base_store.planner)).json()
    assert [c["name"] for c in planner["carriers"]] == ["Viettel", "MobiFone"]
    by = {c["name"]: c for c in planner["carriers"]}
    assert by["Viettel"]["towers"] == {"3G": 1, "4G": 1} and by["MobiFone"]["towers"] == {"4G": 1}
    own = client.get(f"{API}/carriers", headers=h(base_store.viettel)).json()
    by = {c["name"]: c for c in own["carriers"]}
    assert by["Viettel"]["visible"] and by["Viettel"]["towers"] == {"3G": 1, "4G": 1}
    assert by["MobiFone"] == {"name": "MobiFone", "key": "mobifone", "visible": False,
                              "towers": None}


def test_summary_planner_is_the_file(client, base_store):
    r = client.get(f"{API}/summary", headers=h(base_store.planner))
    assert r.status_code == 200
    assert r.content == (vdir(base_store) / "summary.json").read_bytes()
    assert r.headers["x-lomsong-version"] == base_store.version_id
    s = r.json()
    assert s["villages_total"] == len(VILLAGES)
    assert s["villages_no_mobile"] == len(LOM_SONG)
    assert set(s["communes"]) == {"Xã Phú Đình", "Xã Bình Thành"}


def test_summary_carrier_sees_only_itself(client, base_store):
    full = client.get(f"{API}/summary", headers=h(base_store.planner)).json()
    s = client.get(f"{API}/summary", headers=h(base_store.mobifone)).json()
    assert list(s["carriers"]) == ["MobiFone"]
    assert s["carriers"]["MobiFone"] == full["carriers"]["MobiFone"]
    for name, block in s["communes"].items():
        assert list(block["carriers"]) == ["MobiFone"], name
        assert block["villages_no_mobile"] == full["communes"][name]["villages_no_mobile"]
    assert s["villages_no_mobile"] == full["villages_no_mobile"]
    assert "Viettel" not in json.dumps(s) and "viettel" not in json.dumps(s)


# ------------------------------------------------------------------------------------- gaps


def test_lom_song_list(client, base_store):
    r = client.get(f"{API}/gaps", headers=h(base_store.planner))
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "mobile" and body["carrier"] is None
    assert {v["id"] for v in body["villages"]} == LOM_SONG
    assert body["count"] == len(LOM_SONG)
    row = body["villages"][0]
    assert row["no_mobile"] is True
    assert "viettel_4g_status" in row and "mobifone_4g_status" in row
    # A carrier's key gets the same list without any other carrier's columns.
    own = client.get(f"{API}/gaps", headers=h(base_store.viettel)).json()
    assert {v["id"] for v in own["villages"]} == LOM_SONG
    for v in own["villages"]:
        assert "viettel_4g_status" in v
        assert not [k for k in v if k.startswith("mobifone")]


def test_lom_song_csv_is_the_file(client, base_store):
    for key in (base_store.planner, base_store.mobifone):
        r = client.get(f"{API}/gaps", params={"format": "csv"}, headers=h(key))
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert r.content == (vdir(base_store) / "gaps" / "lom_song.csv").read_bytes()


def test_carrier_gap_list_is_the_file(client, base_store):
    for key in (base_store.viettel, base_store.planner):
        r = client.get(f"{API}/gaps", params={"carrier": "viettel", "format": "csv"},
                       headers=h(key))
        assert r.status_code == 200
        assert r.content == (vdir(base_store) / "gaps" / "viettel.csv").read_bytes()
        assert 'filename="viettel-mobile-gaps.csv"' in r.headers["content-disposition"]
    rows = csv_rows(r.content)
    assert "v-near-vie" not in {x["id"] for x in rows}  # 250 m from the Viettel site
    assert LOM_SONG <= {x["id"] for x in rows}


def test_carrier_gap_json_rows(client, base_store):
    body = client.get(f"{API}/gaps", params={"carrier": "MobiFone"},
                      headers=h(base_store.mobifone)).json()
    assert body["carrier"] == "MobiFone"
    ids = [v["id"] for v in body["villages"]]
    assert "v-near-mob" not in ids and LOM_SONG | {"v-near-vie"} == set(ids)
    for v in body["villages"]:
        assert v["status"] in ("gap", "marginal")
        assert not [k for k in v if k.startswith("viettel")]
    # Sorted as the file: gaps first, then most people first.
    pops = [(v["status"] != "gap", -(v["population"] or 0)) for v in body["villages"]]
    assert pops == sorted(pops)


def test_csv_escapes_formulas_but_not_numbers(client, base_store):
    r = client.get(f"{API}/gaps", params={"carrier": "Viettel", "format": "csv"},
                   headers=h(base_store.planner))
    rows = {x["id"]: x for x in csv_rows(r.content)}
    assert rows["v-far-nw"]["name"] == "'=Bản Khuôn"
    assert "Bản Nà Đông" in r.content.decode("utf-8-sig")
    # The JSON keeps the real name.
    body = client.get(f"{API}/gaps", headers=h(base_store.planner)).json()
    assert {v["id"]: v["name"] for v in body["villages"]}["v-far-nw"] == "=Bản Khuôn"
    # A negative dBm is a number, written bare.  MobiFone has no 3G, so its 3G list holds every
    # village, v-near-mob with its MobiFone 4G signal among them.
    all3g = client.get(f"{API}/gaps", params={"carrier": "MobiFone", "rat": "3g",
                                              "format": "csv"}, headers=h(base_store.planner))
    dbm = {x["id"]: x["mobifone_4g_best_dbm"] for x in csv_rows(all3g.content)}
    assert set(dbm) == {v[0] for v in VILLAGES}
    assert dbm["v-near-mob"].startswith("-") and -120 < float(dbm["v-near-mob"]) < 0
    assert b",-" in all3g.content and b",'-" not in all3g.content


def test_rat_filter(client, base_store):
    broad = client.get(f"{API}/gaps", params={"carrier": "Viettel"},
                       headers=h(base_store.viettel)).json()
    four = client.get(f"{API}/gaps", params={"carrier": "Viettel", "rat": "4g"},
                      headers=h(base_store.viettel)).json()
    assert four["rat"] == "4g"
    # Not covered on 4G includes everything not covered on the best of 3G/4G/5G.
    assert {v["id"] for v in broad["villages"]} <= {v["id"] for v in four["villages"]}
    for v in four["villages"]:
        assert v["status"] == v["viettel_4g_status"] != "covered"
    # 3G: only Viettel has it, and it covers the village next to its site.
    three = client.get(f"{API}/gaps", params={"rat": "3g"}, headers=h(base_store.planner)).json()
    assert {v["id"] for v in three["villages"]} == {r[0] for r in VILLAGES} - {"v-near-vie"}
    # No tower has 5G: the run does not report it, so there is no 5G list.
    r = client.get(f"{API}/gaps", params={"rat": "5g"}, headers=h(base_store.planner))
    assert r.status_code == 404 and "technologies: 3g, 4g" in r.json()["detail"]


def test_fiber_list(client, base_store):
    body = client.get(f"{API}/gaps", params={"kind": "fiber"},
                      headers=h(base_store.planner)).json()
    # The fiber line runs 20 m from v-near-vie and 620 m from v-far-nw; the rest are > 2 km.
    assert {v["id"] for v in body["villages"]} == {"v-near-mob", "v-far-se", "v-mid"}
    assert all(v["no_fiber"] is True and v["fiber_distance_m"] > 1000 for v in body["villages"])
    r = client.get(f"{API}/gaps", params={"kind": "fiber", "format": "csv"},
                   headers=h(base_store.viettel))
    assert r.content == (vdir(base_store) / "gaps" / "no_fiber.csv").read_bytes()


def test_commune_filter(client, base_store):
    body = client.get(f"{API}/gaps", params={"commune": "xã phú đình"},
                      headers=h(base_store.planner)).json()
    assert {v["id"] for v in body["villages"]} == {"v-far-nw", "v-mid"}
    r = client.get(f"{API}/gaps", params={"commune": "Xã Không Có"}, headers=h(base_store.planner))
    assert r.status_code == 404 and "commune" in r.json()["detail"]


def test_geojson(client, base_store):
    r = client.get(f"{API}/gaps", params={"carrier": "MobiFone", "format": "geojson"},
                   headers=h(base_store.mobifone))
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert {f["id"] for f in fc["features"]} == LOM_SONG | {"v-near-vie"}
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point" and len(f["geometry"]["coordinates"]) == 2
    assert "status" in f["properties"]
    assert not [k for k in f["properties"] if k.startswith("viettel")]


def test_gap_access_rules(client, base_store):
    r = client.get(f"{API}/gaps", params={"carrier": "MobiFone"}, headers=h(base_store.viettel))
    assert r.status_code == 403
    r = client.get(f"{API}/gaps", params={"carrier": "VinaPhone"},
                   headers=h(base_store.vinaphone))
    assert r.status_code == 404 and "not in version" in r.json()["detail"]
    r = client.get(f"{API}/gaps", params={"carrier": "Telco"}, headers=h(base_store.planner))
    assert r.status_code == 422 and "Telco" in r.json()["detail"]
    for bad in ({"rat": "2g"}, {"rat": "6g"}, {"format": "xlsx"}, {"kind": "power"}):
        assert client.get(f"{API}/gaps", params=bad,
                          headers=h(base_store.planner)).status_code == 422, bad


# ---------------------------------------------------------------------------------- villages


def test_village_planner_sees_every_carrier(client, base_store):
    r = client.get(f"{API}/villages/v-near-vie", headers=h(base_store.planner))
    assert r.status_code == 200
    v = r.json()
    assert v["name"] == "Thôn Gần Viettel" and v["commune"] == "Xã Phú Đình"
    assert v["fiber_distance_m"] < 100 and v["no_fiber"] is False
    assert {(s["carrier"], s["rat"]) for s in v["services"]} == {
        (c, rat) for c in ("Viettel", "MobiFone") for rat in ("3G", "4G")}
    vie4 = next(s for s in v["services"] if (s["carrier"], s["rat"]) == ("Viettel", "4G"))
    assert vie4["status"] == "covered" and vie4["serving_site"] == "VIE-A"
    assert vie4["best_dbm"] < 0 and 0.9 <= vie4["p_cov"] <= 1.0


def test_village_carrier_sees_only_itself(client, base_store):
    v = client.get(f"{API}/villages/v-near-vie", headers=h(base_store.mobifone)).json()
    assert {s["carrier"] for s in v["services"]} == {"MobiFone"}
    assert "VIE-A" not in json.dumps(v)


def test_village_ids(client, base_store):
    assert client.get(f"{API}/villages/nope", headers=h(base_store.planner)).status_code == 404
    for bad in ("a%20b", "x" * 101, "%00", "a%2Fb", "..."):
        r = client.get(f"{API}/villages/{bad}", headers=h(base_store.planner))
        if r.status_code == 404:  # a decoded '/' matches no route at all
            assert r.json()["detail"] in ("Not Found",) or "not in version" in r.json()["detail"]
        else:
            assert r.status_code == 422, bad


# ------------------------------------------------------------------------------------ towers


def test_towers_scope(client, base_store):
    everyone = client.get(f"{API}/towers", headers=h(base_store.planner)).json()
    assert everyone["count"] == 3
    assert {t["carrier"] for t in everyone["towers"]} == {"Viettel", "MobiFone"}
    own = client.get(f"{API}/towers", headers=h(base_store.viettel)).json()
    assert own["count"] == 2 and {t["carrier"] for t in own["towers"]} == {"Viettel"}
    assert {t["site_id"] for t in own["towers"]} == {"VIE-A"}
    assert client.get(f"{API}/towers", params={"carrier": "MobiFone"},
                      headers=h(base_store.viettel)).status_code == 403
    mob = client.get(f"{API}/towers", params={"carrier": "mobifone"},
                     headers=h(base_store.planner)).json()
    assert [t["site_id"] for t in mob["towers"]] == ["MOB-A"]
    r = client.get(f"{API}/towers", params={"format": "csv"}, headers=h(base_store.mobifone))
    rows = csv_rows(r.content)
    assert [x["site_id"] for x in rows] == ["MOB-A"]
    none = client.get(f"{API}/towers", headers=h(base_store.vinaphone)).json()
    assert none["count"] == 0


def test_jobs_ids_are_checked(client, base_store):
    r = client.get(f"{API}/jobs/{'0' * 32}", headers=h(base_store.planner))
    assert r.status_code == 404
    r = client.get(f"{API}/jobs/..%2F..%2Fx", headers=h(base_store.planner))
    assert r.status_code in (404, 422)
    assert client.get(f"{API}/jobs/{'Z' * 32}", headers=h(base_store.planner)).status_code == 422


# ------------------------------------------------------------------------------ map, sign-in


def test_map_with_key(client, base_store):
    r = client.get("/map", headers=h(base_store.planner))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.content == (vdir(base_store) / "map_served.html").read_bytes()
    assert r.headers["cache-control"] == "no-store"
    assert client.get("/map", headers=h(base_store.viettel)).status_code == 403


def test_map_without_credentials(client):
    r = client.get("/map", headers={"Accept": "text/html,application/xhtml+xml"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert client.get("/map", headers={"Accept": "application/json"}).status_code == 401
    assert client.get("/", follow_redirects=False).headers["location"] == "/map"


def test_vendor_files_are_served(client):
    r = client.get("/static/vendor/leaflet/leaflet.js")
    assert r.status_code == 200 and len(r.content) > 1000
    assert client.get("/static/vendor/../settings.py").status_code == 404


def test_signin_session_flow(store_copy):
    with make_client(store_copy) as c:
        form = c.get("/signin")
        assert form.status_code == 200 and 'name="key"' in form.text
        bad = c.post("/signin", data={"key": "lsk_00000000_" + "a" * 43}, follow_redirects=False)
        assert bad.status_code == 401 and "not valid" in bad.text
        car = c.post("/signin", data={"key": store_copy.viettel}, follow_redirects=False)
        assert car.status_code == 403 and "set-cookie" not in car.headers
        ok = c.post("/signin", data={"key": store_copy.planner}, follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/map"
        cookie = ok.headers["set-cookie"]
        low = cookie.lower()
        assert "httponly" in low and "samesite=strict" in low and "max-age=" in low
        assert store_copy.planner not in cookie
        assert c.get("/map", headers={"Accept": "text/html"}).status_code == 200
        # The session reads the API (for a page's own calls) but never writes.
        assert c.get(f"{API}/summary").status_code == 200
        up = c.post(f"{API}/towers", files={"file": ("t.csv", b"radio,lon,lat\n")})
        assert up.status_code == 401
        out = c.post("/signout", follow_redirects=False)
        assert out.status_code == 303
        r = c.get("/map", headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303
        # A stolen cookie is dead after sign-out, server side.
        token = cookie.split(";")[0].split("=", 1)[1]
        c.cookies.set("lomsong_session", token)
        assert c.get("/map", headers={"Accept": "text/html"},
                     follow_redirects=False).status_code == 303


def test_revoking_a_key_ends_its_session(store_copy):
    from lomsong.app.store import Store

    with make_client(store_copy) as c:
        assert c.post("/signin", data={"key": store_copy.planner},
                      follow_redirects=False).status_code == 303
        assert c.get("/map").status_code == 200
        store = Store(store_copy.root)
        store.revoke_key(store.authenticate(store_copy.planner).key_id)
        store.close()
        assert c.get("/map", headers={"Accept": "text/html"},
                     follow_redirects=False).status_code == 303
        assert c.get(f"{API}/summary", headers=h(store_copy.planner)).status_code == 401
