"""``lomsong keys`` and ``lomsong serve`` (the part before uvicorn starts)."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from lomsong.app.store import KEY_RE, Store


def test_keys_add_list_revoke(tmp_path):
    from lomsong.cli import app

    runner = CliRunner()
    store = tmp_path / "s"
    r = runner.invoke(app, ["keys", "add", "--store", str(store), "--role", "carrier",
                            "--carrier", "viettel", "--label", "NOC Thái Nguyên"])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    assert KEY_RE.match(key)
    found = Store(store).authenticate(key)
    assert found.role == "carrier" and found.carrier == "Viettel"
    listed = runner.invoke(app, ["keys", "list", "--store", str(store)])
    assert found.key_id in listed.stdout and "Viettel" in listed.stdout
    assert key not in listed.stdout and KEY_RE.match(key).group(2) not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", found.key_id, "--store", str(store)]).exit_code == 0
    assert Store(store).authenticate(key) is None
    r = runner.invoke(app, ["keys", "add", "--role", "planner"], env={"LOMSONG_STORE": str(store)})
    assert r.exit_code == 0 and Store(store).authenticate(r.stdout.strip()).role == "planner"


def test_keys_bad_flags_exit_2_naming_the_flag(tmp_path):
    for args, flag in ([["--role", "admin"], "--role"], [["--role", "carrier"], "--carrier"],
                       [["--role", "carrier", "--carrier", "Telco"], "--carrier"]):
        p = subprocess.run([sys.executable, "-m", "lomsong.cli", "keys", "add", "--store",
                            str(tmp_path / "s"), *args], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 2, p.stderr
        assert flag in p.stderr and p.stdout == ""


def test_serve_computes_the_sample_into_an_empty_store(tmp_path, tiny_config, monkeypatch):
    """With an empty store, serve publishes the sample before starting uvicorn."""
    import uvicorn

    import lomsong.pipeline
    from lomsong.cli import app

    monkeypatch.setattr(lomsong.pipeline, "sample_config", lambda: tiny_config)
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: started.update(app=app_, **kw))
    store = tmp_path / "s"
    r = CliRunner().invoke(app, ["serve", "--store", str(store), "--port", "8765"])
    assert r.exit_code == 0, r.output
    assert started["host"] == "127.0.0.1" and started["port"] == 8765
    assert started["workers"] == 1
    vid = Store(store).current_id()
    assert vid is not None and (store / "versions" / vid / "summary.json").is_file()
    # A second start does not recompute.
    r = CliRunner().invoke(app, ["serve", "--store", str(store)])
    assert r.exit_code == 0 and Store(store).version_ids() == [vid]
    # --no-sample leaves an empty store empty.
    r = CliRunner().invoke(app, ["serve", "--store", str(tmp_path / "e"), "--no-sample"])
    assert r.exit_code == 0 and Store(tmp_path / "e").current_id() is None
