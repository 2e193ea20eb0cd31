# The user-code image of the replenit-pipelines code location: the package and its pinned
# dependencies, serving its definitions over gRPC (`dagster code-server start`). The same image runs
# the launched runs (K8sRunLauncher Jobs, or runs of the code server in docker compose) and, in
# deploy/docker-compose.yaml, the webserver and the daemon (dagster-webserver is a dependency).
# Build: docker build -t replenit-pipelines:0.1.0 .     Deploy: docs/deploying.md
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/replenit
# The dependencies first (a layer reused while only the code changes), then the package.
COPY pyproject.toml README.md ./
RUN mkdir replenit_pipelines && touch replenit_pipelines/__init__.py \
    && pip install . && pip uninstall -y replenit-pipelines && rm -rf replenit_pipelines build
COPY replenit_pipelines ./replenit_pipelines
RUN pip install --no-deps . && rm -rf build

# No secret is baked in: REPLENIT_API_KEY, REPLENIT_STATE_URL and DAGSTER_POSTGRES_URL come from the
# environment at run time (Kubernetes secrets, or the compose .env).
ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    REPLENIT_STATE_DIR=/tmp/replenit
RUN useradd --create-home --uid 10001 replenit \
    && mkdir -p "$DAGSTER_HOME" "$REPLENIT_STATE_DIR" && chown -R replenit "$DAGSTER_HOME" "$REPLENIT_STATE_DIR"
USER replenit

EXPOSE 3030
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "3030", \
     "--module-name", "replenit_pipelines.definitions", "--location-name", "replenit_pipelines"]
