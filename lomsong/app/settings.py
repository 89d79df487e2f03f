"""Service settings: environment variables with the ``LOMSONG_`` prefix, or passed in by tests.

Built inside :func:`lomsong.app.main.create_app` (never at import), so a test can hand the
factory its own :class:`Settings` without touching the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: 5 MiB: a whole province's tower list in OpenCelliD's format is ~100 bytes a row, so this is
#: tens of thousands of cells, far more than one carrier has in Thái Nguyên.
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class Settings(BaseSettings):
    """Everything the service can be told from outside (``LOMSONG_STORE=/srv/lomsong`` ...)."""

    model_config = SettingsConfigDict(env_prefix="LOMSONG_", extra="ignore")

    store: Path = Field(default=Path("lomsong-store"),
                        description="Store folder (versions, SQLite).")
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, gt=0,
                                  description="Largest tower CSV accepted by POST /towers (413).")
    session_ttl_s: int = Field(default=8 * 3600, gt=0, le=30 * 24 * 3600,
                               description="Life of a browser session made by /signin.")
    cookie_secure: bool = Field(default=False,
                                description="Mark the session cookie Secure (set it when the "
                                "service is behind HTTPS).")
    keep_versions: int = Field(default=5, ge=2,
                               description="Published versions kept on disk; older ones are "
                               "deleted after a new one is published (never the current).")
    max_pending_jobs: int = Field(default=8, ge=1,
                                  description="Uploads queued or running at once; more get 429.")
    warm_kernels: bool = Field(default=True,
                               description="Compile the Numba kernels at start-up.")
    cache_entries: int = Field(default=512, ge=0,
                               description="Rendered responses kept per version.")
