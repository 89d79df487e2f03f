"""The web map in a real headless Chromium: it draws, and nothing leaves the machine.

Chromium is driven over the DevTools protocol through ``--remote-debugging-pipe`` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), so no websocket package is needed.  Every
network request the page makes is recorded from the protocol's ``Network`` events; on top of
that ``--host-resolver-rules`` makes any name lookup fail, so a request that tried to leave
would also fail rather than reach the internet.  Screenshots land in pytest's tmp dir.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lomsong.geodata.webmap import SIGNAL_CLASSES, VILLAGE_COLORS, render_map
from tests.geodata.test_webmap import CELL_M, cell_xy, synthetic_inputs, to_lonlat

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
LOCAL_SCHEMES = {"file", "data", "about", "blob"}


def _need_chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"needs Chromium at {CHROMIUM} (Debian package chromium)")
    return CHROMIUM


class CdpError(RuntimeError):
    pass


class Browser:
    """A headless Chromium and one page of it, over the DevTools pipe."""

    def __init__(self, exe: str, profile: Path, log: Path, width: int = 1280, height: int = 860):
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Chromium wants the pipe on fds 3 (its input) and 4 (its output).  Lift our ends above
        # 10 first so the dup2 calls in the child cannot clobber each other.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
                for fd in (to_chrome_r, to_chrome_w, from_chrome_r, from_chrome_w)]
        for fd in (to_chrome_r, to_chrome_w, from_chrome_r, from_chrome_w):
            os.close(fd)
        child_in, self._w, self._r, child_out = ends

        def wire_fds() -> None:  # runs in the child between fork and exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self._log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=wire_fds, close_fds=False)
        os.close(child_in)
        os.close(child_out)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []  # every event, in order
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=True)

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buf += chunk
            *msgs, buf = buf.split(b"\0")
            for raw in msgs:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self.seen.append(msg)
                    self.events.put(msg)

    def call(self, method: str, params: dict | None = None, *, session: bool = False,
             timeout: float = 30.0) -> dict:
        self._next_id += 1
        mid = self._next_id
        msg: dict = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = self._log_path.read_text(errors="replace")[-2000:]
                    raise CdpError(f"{method}: no reply (chromium exit code {self.proc.poll()});"
                                   f" its log ends:\n{tail}")
                self._cond.wait(min(left, 0.5))
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError(f"no {method} event within {timeout} s")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("method") == method:
                return ev

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        while not self.events.empty():
            self.events.get_nowait()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired", timeout)

    def js(self, expression: str, timeout: float = 30.0):
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, session=True,
                        timeout=timeout)
        if "exceptionDetails" in res:
            raise CdpError(f"JS failed: {res['exceptionDetails']}\n{expression[:300]}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for: {expression}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> bytes:
        png = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"},
                                         session=True)["data"])
        path.write_bytes(png)
        return png

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.seen
                if e.get("method") == "Network.requestWillBeSent"]

    def failures(self) -> list[str]:
        out = [f"{e['params'].get('errorText')} {e['params'].get('requestId')}" for e in self.seen
               if e.get("method") == "Network.loadingFailed"]
        out += [json.dumps(e["params"]["exceptionDetails"])[:400] for e in self.seen
                if e.get("method") == "Runtime.exceptionThrown"]
        out += [f'{e["params"]["entry"]["text"]} {e["params"]["entry"].get("url", "")}'
                for e in self.seen
                if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
        return out

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except CdpError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()


@pytest.fixture
def browser(tmp_path):
    exe = _need_chromium()
    b = Browser(exe, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        yield b
    finally:
        b.close()


# What the page looks like once Leaflet has drawn, read from the DOM in one go.
DOM_STATE = r"""
(() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const imgs = (pane) => q(`.leaflet-${pane}-pane img.leaflet-image-layer`);
  const ok = (i) => i.complete && i.naturalWidth > 0;
  const legend = document.getElementById('ls-legend');
  const banner = document.getElementById('ls-banner');
  const visible = (el) => !!el && el.getBoundingClientRect().width > 0
                          && getComputedStyle(el).visibility !== 'hidden';
  return {
    leaflet: typeof L === 'object' ? L.version : null,
    hillshade: imgs('ls-hillshade').map(ok),
    signal: imgs('ls-signal').map((i) => [i.className.match(/ls-signal-[\w-]+/)[0], ok(i)]),
    villages: q('path.ls-village').map((p) => [p.getAttribute('class').match(/ls-village-(\w+)/)[1],
                                               p.getAttribute('fill')]),
    communes: q('.leaflet-ls-communes-pane path').length,
    fiber: q('.leaflet-ls-fiber-pane path').length,
    towers: q('.leaflet-marker-pane .ls-tower').length,
    legend: visible(legend) ? legend.innerText : null,
    banner: visible(banner) ? banner.innerText : null,
    control: q('.leaflet-control-layers label').map((l) => l.innerText.trim()),
    checked: q('.leaflet-control-layers-overlays input:checked').length,
  };
})()
"""

# The map object Folium made (a global named map_<hex>).
THE_MAP = ("Object.keys(window).filter((k) => k.startsWith('map_') && window[k] instanceof L.Map)"
           ".map((k) => window[k])[0]")

# RGBA of the overlay image of class `cls` at a lat/lon, read back through a canvas: this checks
# that Leaflet puts our Web Mercator image where the data is.
PIXEL_AT = """
((cls, lat, lon) => {
  const map = THE_MAP;
  const img = document.querySelector('img.' + cls);
  const box = img.getBoundingClientRect(), mbox = map.getContainer().getBoundingClientRect();
  const p = map.latLngToContainerPoint([lat, lon]);
  const fx = (p.x + mbox.left - box.left) / box.width, fy = (p.y + mbox.top - box.top) / box.height;
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(Math.floor(fx * c.width), Math.floor(fy * c.height), 1, 1).data;
  return Array.from(d);
})
""".replace("THE_MAP", THE_MAP)


def _assert_drawn(state: dict, inputs) -> None:
    assert state["leaflet"] == "1.9.4"
    assert state["hillshade"] == [True], "the hillshade image did not load"
    assert state["signal"] == [["ls-signal-viettel-4g", True]]
    want = {"Xóm Đồng Tâm": "covered", "Thôn Khuổi Nằm": "weak", "Bản Lòng Ngòi": "no_mobile"}
    got = sorted(state["villages"])
    assert len(got) == len(inputs.records)
    assert sorted(k for k, _ in got) == sorted([*want.values(), "covered"])
    for key, fill in got:
        assert fill == VILLAGE_COLORS[key]
    assert state["communes"] == 2 and state["fiber"] == 1
    assert state["towers"] == 2
    assert state["legend"] and "Lõm sóng / No mobile signal" in state["legend"]
    assert "Không có cáp quang / No fiber" in state["legend"]
    assert state["banner"] and "Dữ liệu minh họa" in state["banner"]
    assert "Địa hình (DEM) / Hillshade" in state["control"]
    assert "Sóng / Signal VinaPhone 3G" in state["control"]
    assert state["checked"] == 1 + 2 + 3 + 2  # one signal, communes+fiber, 3 village groups, towers


def _external(urls: list[str], allowed_hosts: set[str] = frozenset()) -> list[str]:
    out = []
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme in LOCAL_SCHEMES:
            continue
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc in allowed_hosts:
            continue
        out.append(u)
    return out


def test_standalone_map_draws_offline(browser, tmp_path):
    inputs = synthetic_inputs()
    page = tmp_path / "map.html"
    page.write_text(render_map(inputs, assets="inline"), encoding="utf-8")
    browser.navigate(page.as_uri())
    browser.wait_for("document.querySelectorAll('path.ls-village').length > 0 && "
                     "Array.from(document.images).every((i) => i.complete)")
    state = browser.js(DOM_STATE)
    _assert_drawn(state, inputs)

    # The overlay sits where the data is: strong at the mast, the class bands at the synthetic
    # distances east of it, nothing past the 4.5 km edge (see synthetic_inputs).
    colours = {k: c[2] for k, c in enumerate(SIGNAL_CLASSES)}
    for d_km, cls in ((0.3, 3), (2.0, 2), (3.0, 1), (4.0, 0), (6.0, 0)):
        lon, lat = to_lonlat(*cell_xy(40, 30 + d_km * 1000 / CELL_M))
        rgba = browser.js(f"{PIXEL_AT}('ls-signal-viettel-4g', {lat}, {lon})")
        want = colours[cls]
        assert abs(rgba[3] - want[3]) <= 2, (d_km, rgba, want)
        if want[3]:
            assert all(abs(a - b) <= 4 for a, b in zip(rgba[:3], want[:3], strict=True)), (
                d_km, rgba, want)

    # A click on a village opens its popup, in Vietnamese and English.
    browser.js("""(() => {
      const p = document.querySelector('path.ls-village-no_mobile');
      const b = p.getBoundingClientRect();
      const o = {bubbles: true, clientX: b.x + b.width / 2, clientY: b.y + b.height / 2};
      p.dispatchEvent(new MouseEvent('mousedown', o));
      p.dispatchEvent(new MouseEvent('mouseup', o));
      p.dispatchEvent(new MouseEvent('click', o));
    })()""")
    popup = browser.wait_for("(document.querySelector('.leaflet-popup-content') || {}).innerText")
    assert "Bản Lòng Ngòi" in popup and "Lõm sóng / No mobile signal" in popup
    assert "Không có cáp quang / No fiber" in popup and "VinaPhone" in popup
    browser.js(f"void {THE_MAP}.closePopup()")

    # Ticking another signal layer in the control adds its image to the signal pane, under
    # the villages whatever the order of clicks.
    browser.js("""Array.from(document.querySelectorAll('.leaflet-control-layers label'))
      .find((l) => l.innerText.includes('Signal VinaPhone 3G')).querySelector('input').click()""")
    browser.wait_for("document.querySelectorAll('.leaflet-ls-signal-pane img').length === 2")
    z = browser.js("['ls-signal', 'ls-communes'].map((n) => +getComputedStyle("
                   "document.querySelector('.leaflet-' + n + '-pane')).zIndex)")
    assert z[0] < z[1] < 400

    shot = browser.screenshot(tmp_path / "map.png")
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000

    urls = browser.requests()
    assert page.as_uri() in urls, "the request log is empty: the recorder is not working"
    assert _external(urls) == []
    assert browser.failures() == []


def test_request_recorder_catches_an_external_request(browser, tmp_path):
    """The offline check can fail: switch to the optional OSM layer and it reports the tiles."""
    page = tmp_path / "map_osm.html"
    page.write_text(render_map(synthetic_inputs(), assets="inline", osm_layer=True),
                    encoding="utf-8")
    browser.navigate(page.as_uri())
    browser.wait_for("document.querySelectorAll('path.ls-village').length > 0")
    assert _external(browser.requests()) == []  # off at start: still nothing
    browser.js("""Array.from(document.querySelectorAll('.leaflet-control-layers label'))
      .find((l) => l.innerText.includes('OpenStreetMap')).querySelector('input').click()""")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _external(browser.requests()):
        time.sleep(0.1)
    external = _external(browser.requests())
    assert external and all("tile.openstreetmap.org" in u for u in external)


def test_served_map_draws_with_only_local_requests(browser, tmp_path, live_server):
    """The service's /map over a real uvicorn: sign in with a planner key, then the map."""
    base_url, planner_key = live_server
    host = urlsplit(base_url).netloc
    browser.navigate(f"{base_url}/signin")
    browser.js(f"""(() => {{
      document.getElementById('key').value = {json.dumps(planner_key)};
      document.querySelector('form').submit();
    }})()""")
    browser.wait_event("Page.loadEventFired")
    drawn = ("location.pathname === '/map' && typeof L === 'object' && "
             "document.querySelectorAll('path.ls-village').length > 0 && "
             "Array.from(document.images).every((i) => i.complete)")
    browser.wait_for(drawn)
    # Load the map once more with the session cookie, recording only this page's requests (the
    # sign-in page is the service's and may ask for a favicon of its own).
    browser.seen.clear()
    browser.navigate(f"{base_url}/map")
    browser.wait_for(drawn)
    state = browser.js(DOM_STATE)
    assert state["leaflet"] == "1.9.4"
    assert state["legend"] and "Lõm sóng / No mobile signal" in state["legend"]
    assert state["villages"] and all(f == VILLAGE_COLORS[k] for k, f in state["villages"])
    assert all(state["hillshade"]) and all(ok for _, ok in state["signal"])
    browser.screenshot(tmp_path / "map_served.png")
    urls = browser.requests()
    assert f"{base_url}/static/vendor/leaflet/leaflet.js" in urls
    assert _external(urls, {host}) == []
    assert browser.failures() == []
