# syntax=docker/dockerfile:1.7
# The portal's image: one image for web, workers, beat and the migration Job (the Helm chart picks the command).
#
#   docker build -t ecap-portal:$(git rev-parse --short HEAD) .                        # web, workers, beat
#   docker build --target spark-worker -t ecap-portal-spark:$(git rev-parse --short HEAD) .   # + Java for local Spark
#
# Production runs Spark on EMR, so the default image carries no Java; the `spark-worker` target adds a headless
# Java 17 runtime for clusters that run Spark in local mode on the `spark` queue's worker.
# Checked without a Docker engine by `make lint-infra` (hadolint and scripts/lint_infra.py's own rules).

# --- build: a virtual environment with the pinned runtime dependencies, and the collected static files -------------
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY requirements.txt ./
RUN /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
COPY manage.py ./
COPY ecap_site ./ecap_site
COPY apps ./apps
COPY spark ./spark
COPY config ./config
COPY templates ./templates
COPY static ./static
# Production settings refuse to start without these; collectstatic needs neither a database nor Redis, so the
# values below only satisfy the start-up checks of this one command and never reach an image layer's environment.
RUN DJANGO_SETTINGS_MODULE=ecap_site.settings.prod \
    DJANGO_SECRET_KEY=collectstatic-only \
    DATABASE_URL=postgres://collectstatic@127.0.0.1:1/collectstatic \
    REDIS_URL=redis://127.0.0.1:1/0 \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0

# --- runtime: only the interpreter, the virtual environment and the application, as an unprivileged user ---------
FROM python:3.11.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="ecap-portal" \
      org.opencontainers.image.description="ECAP governance portal: web, Celery workers and beat" \
      org.opencontainers.image.source="https://github.com/ecap/ecap-portal"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=ecap_site.settings.prod \
    PORTAL_ENVIRONMENT=production \
    PORTAL_VAR_DIR=/tmp/ecap \
    GUNICORN_CMD_ARGS="--config /app/deploy/gunicorn.conf.py"
RUN groupadd --system --gid 10001 ecap \
    && useradd --system --uid 10001 --gid ecap --home-dir /app --no-create-home --shell /usr/sbin/nologin ecap
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py
USER 10001:10001
EXPOSE 8000
# Kubernetes uses its own probes (/healthz, /readyz); this one serves `docker run` and Compose.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["gunicorn", "ecap_site.wsgi:application"]

# --- spark-worker: the runtime plus Java 17 for Spark in local mode (the `spark` queue's worker outside EMR) -------
FROM runtime AS spark-worker
USER 0:0
RUN apt-get update \
    && apt-get install --yes --no-install-recommends openjdk-17-jre-headless=17.* \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
USER 10001:10001
CMD ["celery", "-A", "ecap_site", "worker", "-Q", "spark", "--concurrency", "1", "-n", "spark@%h"]

# The default target is the plain runtime (web, workers, beat and the migration Job).
FROM runtime
