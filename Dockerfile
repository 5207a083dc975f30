# Image for the source-customerio Airbyte connector.
#
# Works on two bases (same build, no edits):
#   * the Airbyte base (default, pinned by digest; must equal metadata.yaml
#     connectorBuildOptions.baseImage): python at /usr/local/bin, user airbyte (uid 1000);
#   * the offline stand-in from scripts/build-offline-base-image.sh (Debian bookworm,
#     python3 at /usr/bin, no airbyte user: it is created here).
#
#   bash scripts/build-image.sh          # wraps the command below, with the CA bundle
#   docker build --network host --build-arg BASE_IMAGE=source-customerio-base:bookworm \
#       -t source-customerio:dev .
#
# Only the legacy builder features are used (no RUN --mount, no `# syntax=` line), so it
# builds with BuildKit, with the legacy builder and through the Docker SDK alike.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

########################################################################################
# Builder: a virtualenv in /opt/venv with the connector and its runtime dependencies.
########################################################################################
FROM ${BASE_IMAGE} AS builder
USER root
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# Optional CA bundle for pip behind a TLS-inspecting proxy: put it in the build context at
# build/pip-ca-bundle.crt (scripts/build-image.sh does, from PIP_CA_BUNDLE). The `[t]` glob
# makes it optional; pyproject.toml is listed so that the COPY always has a source.
# It lives in this stage only and is never written to a pip config: the final stage
# copies /opt/venv alone, so neither the bundle nor a setting pointing at it ships.
COPY pyproject.toml build/pip-ca-bundle.cr[t] /tmp/build-ca/

RUN set -eu; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/python -c 'import sys; assert sys.version_info >= (3, 10), sys.version'

# Dependencies first, from pyproject.toml alone, so that code changes reuse this layer.
RUN set -eu; \
    if [ -s /tmp/build-ca/pip-ca-bundle.crt ]; then \
        export PIP_CERT=/tmp/build-ca/pip-ca-bundle.crt \
               REQUESTS_CA_BUNDLE=/tmp/build-ca/pip-ca-bundle.crt \
               SSL_CERT_FILE=/tmp/build-ca/pip-ca-bundle.crt; \
    fi; \
    /opt/venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("/tmp/build-ca/pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt; \
    /opt/venv/bin/pip install -r /tmp/requirements.txt

# The package itself (runtime dependencies only: no [dev] extra). .dockerignore keeps the
# context to pyproject.toml, README*, LICENSE* and source_customerio/.
COPY . /build/
RUN set -eu; \
    if [ -s /tmp/build-ca/pip-ca-bundle.crt ]; then \
        export PIP_CERT=/tmp/build-ca/pip-ca-bundle.crt \
               REQUESTS_CA_BUNDLE=/tmp/build-ca/pip-ca-bundle.crt \
               SSL_CERT_FILE=/tmp/build-ca/pip-ca-bundle.crt; \
    fi; \
    cd /build; \
    # pyproject.toml names README.md as the long description; tolerate a context without it.
    [ -f README.md ] || echo "# source-customerio" > README.md; \
    /opt/venv/bin/pip install /build; \
    # Fail the build here, not at the first `spec`, when the package or its entry point is broken.
    /opt/venv/bin/python -c 'import source_customerio.run'; \
    test -x /opt/venv/bin/source-customerio; \
    # Slim the venv (about 70 MB): the test suites bundled in numpy and pandas, and pip itself
    # (nothing installs at run time). setuptools stays: airbyte-cdk declares it.
    site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
    find "${site}/numpy" "${site}/pandas" -depth -type d -name tests -exec rm -rf {} +; \
    /opt/venv/bin/python -m pip uninstall --yes --quiet pip; \
    /opt/venv/bin/python -c 'import numpy, pandas, airbyte_cdk, source_customerio.run'

########################################################################################
# Final image: base + venv, non-root user airbyte, absolute entrypoint.
########################################################################################
FROM ${BASE_IMAGE}
USER root

# Must equal metadata.yaml data.dockerRepository / data.dockerImageTag (unit-tested);
# scripts/build-image.sh passes the values read from metadata.yaml.
ARG CONNECTOR_REPOSITORY=source-customerio
ARG CONNECTOR_VERSION=0.2.0

# The Airbyte base has user airbyte (uid 1000); the Debian stand-in has none.
RUN set -eu; \
    if ! id -u airbyte > /dev/null 2>&1; then \
        if getent passwd 1000 > /dev/null; then \
            useradd --create-home --shell /bin/sh airbyte; \
        else \
            useradd --uid 1000 --user-group --create-home --shell /bin/sh airbyte; \
        fi; \
    fi; \
    mkdir -p /airbyte/integration_code; \
    chown -R airbyte: /airbyte; \
    chmod 0755 /airbyte

COPY --from=builder /opt/venv /opt/venv

ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1

# Airbyte runs $AIRBYTE_ENTRYPOINT, possibly from another working directory: keep both
# absolute and identical (unit_tests/test_metadata.py checks this).
ENV AIRBYTE_ENTRYPOINT="/opt/venv/bin/source-customerio"
ENTRYPOINT ["/opt/venv/bin/source-customerio"]

LABEL io.airbyte.name="${CONNECTOR_REPOSITORY}" \
      io.airbyte.version="${CONNECTOR_VERSION}"

WORKDIR /airbyte/integration_code
USER airbyte
