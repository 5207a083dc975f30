"""Fixtures and helpers of the image tests (test_image.py): the Docker engine, the connector image
(given or built), running a command in it or in-process, and the sandbox and input files it reads.

Loaded for the whole suite by the root conftest.py (pytest_plugins), since fixtures only reach a test
module from a conftest or a plugin.

Needs a Docker engine (scripts/ensure-docker.sh) and a base image: by default the offline
stand-in from scripts/build-offline-base-image.sh when it is present locally.

Environment:
  CONNECTOR_IMAGE       an already-built image to test instead of building one
  BASE_IMAGE            base for the build (default: source-customerio-base:bookworm when
                        local, else metadata.yaml connectorBuildOptions.baseImage)
  PIP_CA_BUNDLE         CA bundle pip trusts inside the build (default: the host bundle)
  REQUIRE_IMAGE_TESTS=1 fail instead of skipping when Docker or the sandbox is missing
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from integration_tests.connector import parse_messages

ROOT = Path(__file__).resolve().parents[1]
IMAGE_TAG = "source-customerio:dev"
OFFLINE_BASE = "source-customerio-base:bookworm"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
API_KEY = "test-key"
MOUNT = "/airbyte/input"  # where the config, catalog and state files appear in the container
RUN_TIMEOUT_SECONDS = 600
BUILD_TIMEOUT_SECONDS = 1800


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when REQUIRE_IMAGE_TESTS=1 (CI must not pass by skipping)."""
    if os.environ.get("REQUIRE_IMAGE_TESTS") == "1":
        pytest.fail(f"{reason} (REQUIRE_IMAGE_TESTS=1, so this is a failure)", pytrace=False)
    pytest.skip(reason)


def metadata() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]


# ---------------------------------------------------------------------------------------
# Docker: engine, image, running the connector
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client() -> Any:
    try:
        import docker
    except ImportError:
        unavailable("the docker Python SDK is not installed (pip install -e '.[dev]')")
    try:
        client = docker.from_env(timeout=BUILD_TIMEOUT_SECONDS)
        client.ping()
    except Exception as error:
        unavailable(f"no Docker engine reachable ({error}); start one with scripts/ensure-docker.sh")
    return client


def build_context(ca_bundle: Path | None) -> io.BytesIO:
    """The build context as `docker build .` would send it (.dockerignore applied), plus the
    CA bundle at build/pip-ca-bundle.crt, without writing anything into the work tree."""
    from docker.utils.build import exclude_paths

    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for relative in sorted(exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile")):
            if relative != "build/pip-ca-bundle.crt":
                tar.add(ROOT / relative, arcname=relative, recursive=False)
        if ca_bundle is not None:
            tar.add(ca_bundle, arcname="build/pip-ca-bundle.crt")
    buffer.seek(0)
    return buffer


@pytest.fixture(scope="session")
def connector_image(docker_client: Any) -> str:
    """CONNECTOR_IMAGE when it names a local image; otherwise build source-customerio:dev
    once per session with the SDK (same build arguments as scripts/build-image.sh)."""
    import docker

    wanted = os.environ.get("CONNECTOR_IMAGE")
    if wanted:
        try:
            docker_client.images.get(wanted)
        except docker.errors.ImageNotFound:
            pytest.fail(f"CONNECTOR_IMAGE={wanted} is not a local image; run scripts/build-image.sh")
        return wanted

    data = metadata()
    base = os.environ.get("BASE_IMAGE")
    if not base:
        try:
            docker_client.images.get(OFFLINE_BASE)
            base = OFFLINE_BASE
        except docker.errors.ImageNotFound:
            base = data["connectorBuildOptions"]["baseImage"]
    ca = Path(os.environ.get("PIP_CA_BUNDLE", HOST_CA_BUNDLE))
    try:
        image, _ = docker_client.images.build(
            fileobj=build_context(ca if ca.is_file() else None),
            custom_context=True,
            dockerfile="Dockerfile",
            tag=IMAGE_TAG,
            buildargs={
                "BASE_IMAGE": base,
                "CONNECTOR_REPOSITORY": data["dockerRepository"],
                "CONNECTOR_VERSION": str(data["dockerImageTag"]),
            },
            network_mode="host",
            rm=True,
            forcerm=True,
        )
    except docker.errors.BuildError as error:
        tail = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in error.build_log)
        pytest.fail(f"docker build on {base} failed: {error}\n{tail[-6000:]}", pytrace=False)
    except docker.errors.APIError as error:
        unavailable(f"cannot build on base {base} ({error}); run scripts/build-offline-base-image.sh")
    image.tag(data["dockerRepository"], tag=str(data["dockerImageTag"]))
    return IMAGE_TAG


@dataclass
class Run:
    exit_code: int
    messages: list[dict[str, Any]]
    stdout: str
    stderr: str

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of_type("RECORD")]

    def describe(self) -> str:
        return (
            f"exit {self.exit_code}\n--- stdout (tail)\n{self.stdout[-3000:]}"
            f"\n--- stderr (tail)\n{self.stderr[-3000:]}"
        )


def run_container(
    client: Any, image: str, command: list[str], io_dir: Path | None = None, entrypoint: str | None = None
) -> Run:
    """`docker run --network host [-v io_dir:/airbyte/input:ro] image command...`"""
    volumes = {str(io_dir): {"bind": MOUNT, "mode": "ro"}} if io_dir else None
    container = client.containers.run(
        image, command=command, entrypoint=entrypoint, volumes=volumes, network_mode="host", detach=True
    )
    try:
        result = container.wait(timeout=RUN_TIMEOUT_SECONDS)
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    messages = parse_messages(stdout) if entrypoint is None else []
    return Run(result["StatusCode"], messages, stdout, stderr)


def run_in_process(command: list[str]) -> Run:
    """The same connector from this checkout, outside Docker (the package's run())."""
    completed = subprocess.run(
        [sys.executable, "-c", "from source_customerio.run import run; run()", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    return Run(completed.returncode, parse_messages(completed.stdout), completed.stdout, completed.stderr)


# ---------------------------------------------------------------------------------------
# Sandbox and input files
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_sandbox() -> Iterator[Any]:
    """One sandbox for the whole module, so that every read sees the same data."""
    try:
        from integration_tests.sandbox import Sandbox
    except ImportError as error:
        unavailable(f"integration_tests.sandbox is not importable ({error})")
    sandbox = Sandbox(seed=1, size="tiny", api_key=API_KEY, requests_per_second=0)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def connector_config(sandbox: Any, access_token: str = API_KEY) -> dict[str, Any]:
    return {
        "access_token": access_token,
        "base_url": sandbox.base_url,
        # The sandbox has no rate limit; no lookback makes "resumes from state" exact.
        "requests_per_second": 100,
        "lookback_window_minutes": 0,
        "messages_lookback_days": 0,
        # A customers export creates an export job that the `exports` stream of the next read
        # lists: search keeps reads free of side effects, so two reads can be compared.
        "customers_method": "search",
    }


class IoDir:
    """A host folder mounted read-only at /airbyte/input; readable by the airbyte user."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.chmod(0o755)

    def write(self, name: str, content: Any) -> Path:
        file = self.path / name
        file.write_text(json.dumps(content))
        file.chmod(0o644)
        return file

    @staticmethod
    def inside(name: str) -> str:
        return f"{MOUNT}/{name}"


@pytest.fixture(scope="module")
def io_dir(tmp_path_factory: pytest.TempPathFactory, image_sandbox: Any) -> IoDir:
    folder = IoDir(tmp_path_factory.mktemp("image-io"))
    folder.write("config.json", connector_config(image_sandbox))
    folder.write("bad_config.json", connector_config(image_sandbox, access_token="not-the-key"))
    return folder


def configured_catalog(catalog: dict[str, Any]) -> dict[str, Any]:
    """Every discovered stream: incremental on its default cursor where it has one."""
    streams = []
    for stream in catalog["streams"]:
        cursor = stream.get("default_cursor_field") or []
        incremental = "incremental" in stream.get("supported_sync_modes", []) and (
            cursor or stream.get("source_defined_cursor")
        )
        entry: dict[str, Any] = {
            "stream": stream,
            "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append",
        }
        if incremental and cursor:
            entry["cursor_field"] = cursor
        if stream.get("source_defined_primary_key"):
            entry["primary_key"] = stream["source_defined_primary_key"]
        streams.append(entry)
    return {"streams": streams}


@pytest.fixture(scope="module")
def discovered(docker_client: Any, connector_image: str, io_dir: IoDir) -> Run:
    return run_container(
        docker_client, connector_image, ["discover", "--config", io_dir.inside("config.json")], io_dir.path
    )


@pytest.fixture(scope="module")
def catalog(discovered: Run, io_dir: IoDir) -> dict[str, Any]:
    catalogs = discovered.of_type("CATALOG")
    assert len(catalogs) == 1, discovered.describe()
    configured = configured_catalog(catalogs[0]["catalog"])
    io_dir.write("catalog.json", configured)
    return configured


@pytest.fixture(scope="module")
def docker_read(docker_client: Any, connector_image: str, io_dir: IoDir, catalog: dict[str, Any]) -> Run:
    run = run_container(
        docker_client,
        connector_image,
        ["read", "--config", io_dir.inside("config.json"), "--catalog", io_dir.inside("catalog.json")],
        io_dir.path,
    )
    assert run.exit_code == 0 and not run_errors(run), run.describe()
    return run


def run_errors(run: Run) -> list[dict[str, Any]]:
    return [m["trace"] for m in run.of_type("TRACE") if m["trace"].get("type") == "ERROR"]
