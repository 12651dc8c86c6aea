# syntax=docker/dockerfile:1
#
# braze-kafka-bridge container image.
#
#   docker build -t braze-kafka-bridge:0.1.0 .
#   docker run --rm -v $PWD/config.yaml:/etc/braze-bridge/config.yaml:ro \
#     -e BRAZE_API_KEY braze-kafka-bridge:0.1.0
#
# Two stages on the glibc-based python:3.11-slim, so the prebuilt manylinux wheels of
# confluent-kafka (bundled librdkafka), fastavro and orjson install without a compiler.
# The builder makes the wheel and a self-contained venv at /opt/venv; the final stage gets
# only that venv: no source tree, tests, build tools or pip caches.
#
# The base image is pinned by tag only. Pinning by digest (python:3.11-slim@sha256:...) is
# better for reproducible builds, but the digest could not be fetched where this file was
# written (no registry access); set it with --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>
# in the release pipeline, or pin it here and let Renovate/Dependabot bump it.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml or
# constraints.txt changes, not on every code change. constraints.txt pins the resolved set
# CI tested, so two builds of one commit ship the same dependencies.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt

# Then the code (.dockerignore admits only pyproject.toml, constraints.txt, README.md, LICENSE
# and bridge/).
COPY . ./
RUN pip wheel --no-cache-dir --no-deps -w /dist . \
    && /opt/venv/bin/pip install --no-cache-dir /dist/*.whl \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="braze-kafka-bridge" \
      org.opencontainers.image.description="Consumes Kafka events, maps them by YAML rules to Braze REST API calls, batched, paced by Braze rate-limit headers, delivered at least once." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/braze-kafka-bridge/braze-kafka-bridge" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Fixed UID/GID 10001, matching the Helm chart's securityContext. No home directory and no
# login shell; the bridge needs no writable root filesystem (/tmp is an emptyDir in Kubernetes).
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bridge

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
# /metrics, /healthz and /readyz (config observability.port).
EXPOSE 9102

# For plain docker / compose (Kubernetes uses the chart's probes and ignores this): the
# liveness endpoint on the default port, with the venv's Python (the slim image has no curl).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9102/healthz', timeout=4)"]

ENTRYPOINT ["/opt/venv/bin/braze-bridge"]
CMD ["run", "--config", "/etc/braze-bridge/config.yaml"]
