"""The service in a real uvicorn process (``lomsong serve``) on a loopback port, over HTTP."""

from __future__ import annotations

import httpx

API = "/api/v1"


def test_live_server_over_http(live_server, base_store):
    base, planner = live_server
    assert base.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=base, timeout=10) as c:
        health = c.get(f"{API}/health")
        assert health.status_code == 200 and health.json()["version_id"] == base_store.version_id
        assert c.get(f"{API}/summary").status_code == 401
        r = c.get(f"{API}/gaps", params={"format": "csv"}, headers={"X-API-Key": planner})
        assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
        lom = (base_store.root / "versions" / base_store.version_id / "gaps" / "lom_song.csv")
        assert r.content == lom.read_bytes()
        r = c.get(f"{API}/gaps", params={"carrier": "MobiFone"},
                  headers={"X-API-Key": base_store.viettel})
        assert r.status_code == 403
        page = c.get("/map", headers={"X-API-Key": planner})
        assert page.status_code == 200 and "<html" in page.text.lower()
        r = c.get("/map", headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        signin = c.post("/signin", data={"key": planner}, follow_redirects=False)
        assert signin.status_code == 303
        assert c.get("/map").status_code == 200  # the client kept the session cookie
