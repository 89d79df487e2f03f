"""FastAPI service: gap lists for carriers, maps for planners.

``lomsong.app.main.create_app(settings)`` builds the app; ``lomsong serve`` runs it.  Importing
this package stays light (no FastAPI, NumPy or Numba) so the CLI starts fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from lomsong.app.main import create_app

        return create_app
    raise AttributeError(f"module 'lomsong.app' has no attribute {name!r}")
