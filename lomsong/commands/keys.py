"""``lomsong keys``: API keys of a store (add, list, revoke)."""

from __future__ import annotations

from pathlib import Path

import typer

STORE_OPTION = typer.Option(Path("lomsong-store"), "--store", envvar="LOMSONG_STORE",
                            help="Store folder (as given to lomsong serve).")

keys_app = typer.Typer(help="API keys: a planner's sees everything, a carrier's only its own.",
                       no_args_is_help=True)


@keys_app.command("add")
def add(
    role: str = typer.Option(..., "--role", help="planner or carrier."),
    carrier: str = typer.Option(None, "--carrier", help="The carrier of a carrier key."),
    label: str = typer.Option("", "--label", help="A note: who holds the key."),
    store: Path = STORE_OPTION,
) -> None:
    """Make a key and print it once (only its hash is stored: it cannot be shown again)."""
    from lomsong.app.store import Store

    rec, key = Store(store).open().add_key(role.strip().lower(), carrier, label)
    typer.echo(key)
    who = f"{rec.role} of {rec.carrier}" if rec.carrier else rec.role
    typer.echo(f"key id {rec.key_id} ({who}) added to {Path(store).resolve()}; the key is shown "
               "only now: keep it safe, send it as the X-API-Key header", err=True)


@keys_app.command("list")
def list_keys(store: Path = STORE_OPTION) -> None:
    """List keys (ids, roles, carriers; never the keys themselves)."""
    import time

    from lomsong.app.store import Store

    for k in Store(store).open().list_keys():
        made = time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.created_at))
        state = "revoked" if k.revoked_at else "live"
        typer.echo(f"{k.key_id}\t{k.role}\t{k.carrier or '-'}\t{state}\t{made}Z\t{k.label}")


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key id (8 hex digits)."),
           store: Path = STORE_OPTION) -> None:
    """Revoke a key at once (its browser sessions end too)."""
    from lomsong.app.store import Store

    k = Store(store).open().revoke_key(key_id.strip())
    typer.echo(f"key id {k.key_id} revoked", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
