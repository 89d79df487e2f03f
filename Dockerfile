# lomsong service image. Build: docker build -t lomsong .   Run: docker run -p 8000:8000 -v lomsong-store:/store lomsong
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    NUMBA_CACHE_DIR=/var/cache/lomsong/numba LOMSONG_STORE=/store

WORKDIR /src
COPY pyproject.toml README.md ./
COPY lomsong ./lomsong
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install --no-cache-dir . \
 && useradd --system --home /store lomsong \
 && mkdir -p /store /var/cache/lomsong/numba && chown -R lomsong /store /var/cache/lomsong \
 # compile the kernels into the image so the first request pays no JIT time, and build the
 # ahead-of-time viewshed kernel (gcc is needed for that build only, then removed)
 && su lomsong -s /bin/sh -c "lomsong run -o /tmp/warm --no-cache" && rm -rf /tmp/warm \
 && su lomsong -s /bin/sh -c "python -c 'from lomsong.coverage._kernels.aot import load_viewshed; load_viewshed()'" \
 && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

USER lomsong
VOLUME ["/store"]
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health')"
CMD ["lomsong", "serve", "--host", "0.0.0.0", "--port", "8000", "--store", "/store"]
