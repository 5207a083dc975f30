"""Packaging metadata agrees with itself: metadata.yaml, pyproject.toml, the installed
distribution and the Dockerfile (labels, entrypoint, base image), and .dockerignore keeps
the build context small. Pure file checks: no Docker engine needed."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the project's venv and images are 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "source-customerio"


@dataclass
class Stage:
    """One FROM ... stage of a Dockerfile, with its ARG defaults and instructions."""

    base: str
    args: dict[str, str] = field(default_factory=dict)
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def expand(self, value: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: self.args.get(m[1] or m[2], m[0]), value)

    def key_values(self, instruction: str) -> dict[str, str]:
        """`LABEL`/`ENV` key=value pairs of this stage, quotes removed, ARGs expanded."""
        pairs: dict[str, str] = {}
        for name, rest in self.instructions:
            if name != instruction:
                continue
            for token in shlex.split(rest):
                key, sep, value = token.partition("=")
                assert sep, f"{instruction} {rest!r}: use the key=value form"
                pairs[key] = self.expand(value)
        return pairs

    def last(self, instruction: str) -> str:
        values = [rest for name, rest in self.instructions if name == instruction]
        assert values, f"no {instruction} in the final stage"
        return values[-1]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse_dockerfile(text: str) -> Dockerfile:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n", " ", "\n".join(lines)).splitlines()
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        if not line.strip():
            continue
        name, _, rest = line.strip().partition(" ")
        name, rest = name.upper(), rest.strip()
        if name == "FROM":
            stages.append(Stage(base=rest.split()[0], args={}))
        elif name == "ARG":
            key, _, default = rest.partition("=")
            target = stages[-1].args if stages else global_args
            target[key] = default.strip().strip('"')
        elif stages:
            stages[-1].instructions.append((name, rest))
    assert stages, "the Dockerfile has no FROM"
    return Dockerfile(global_args, stages)


@pytest.fixture(scope="module")
def metadata() -> MetadataFile:
    return MetadataFile.from_file(ROOT / "metadata.yaml")


@pytest.fixture(scope="module")
def raw_metadata(metadata: MetadataFile) -> dict:
    return metadata.data.model_dump()


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def test_metadata_is_a_python_api_source(metadata: MetadataFile, raw_metadata: dict) -> None:
    assert metadata.model_extra == {"metadataSpecVersion": "1.0"}
    data = metadata.data
    assert data.dockerRepository == "source-customerio"
    assert data.language == ConnectorLanguage.PYTHON
    assert set(data.tags) >= {"language:python", "cdk:python"}
    assert raw_metadata["connectorType"] == "source"
    assert raw_metadata["connectorSubtype"] == "api"
    assert raw_metadata["name"] == "Customer.io"
    assert raw_metadata["documentationUrl"].startswith("https://")
    assert raw_metadata["releaseStage"] == "alpha"
    assert raw_metadata["supportLevel"] == "community"
    assert raw_metadata["license"] == "MIT"
    assert uuid.UUID(raw_metadata["definitionId"]).version == 4
    # Ours, not Airbyte's own Customer.io connector.
    assert raw_metadata["definitionId"] != "34f697bc-b989-4eda-b06f-d0f39b88825b"
    assert set(raw_metadata["allowedHosts"]["hosts"]) == {"api.customer.io", "api-eu.customer.io"}
    suites = {entry["suite"] for entry in raw_metadata["connectorTestSuitesOptions"]}
    assert suites == {"unitTests", "integrationTests"}


PERSONAL_DATA_STREAMS = {"customers", "messages", "activities", "eps_suppression", "segment_memberships"}


def test_suggested_streams_are_every_stream_but_the_personal_data_ones(metadata: MetadataFile) -> None:
    """A new connection preselects the suggested streams; people and what they did are opt-in."""
    from source_customerio.source import STREAM_ORDER

    assert metadata.data.suggestedStreams is not None
    suggested = metadata.data.suggestedStreams.streams
    assert len(suggested) == len(set(suggested))
    assert set(suggested) == set(STREAM_ORDER) - PERSONAL_DATA_STREAMS
    assert set(STREAM_ORDER) >= PERSONAL_DATA_STREAMS


def test_base_image_is_pinned_by_digest(metadata: MetadataFile) -> None:
    assert metadata.data.connectorBuildOptions is not None
    base = metadata.data.connectorBuildOptions.baseImage
    assert base and re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", base), base


def test_version_matches_pyproject(metadata: MetadataFile, pyproject: dict) -> None:
    assert pyproject["project"]["name"] == DISTRIBUTION
    assert metadata.data.dockerImageTag == pyproject["project"]["version"]


def test_version_matches_installed_distribution(metadata: MetadataFile) -> None:
    # The suite runs in the environment `make install` makes, which installs the package.
    assert importlib.metadata.version(DISTRIBUTION) == metadata.data.dockerImageTag


def test_console_script_is_declared(pyproject: dict) -> None:
    assert pyproject["project"]["scripts"][DISTRIBUTION] == "source_customerio.run:run"


def test_dockerfile_default_base_image_is_metadata_base_image(
    dockerfile: Dockerfile, metadata: MetadataFile
) -> None:
    assert metadata.data.connectorBuildOptions is not None
    assert dockerfile.global_args["BASE_IMAGE"] == metadata.data.connectorBuildOptions.baseImage
    assert [stage.base for stage in dockerfile.stages] == ["${BASE_IMAGE}"] * len(dockerfile.stages)
    assert len(dockerfile.stages) >= 2, "multi-stage: a builder, then a final stage"


def test_dockerfile_labels_match_metadata(dockerfile: Dockerfile, metadata: MetadataFile) -> None:
    labels = dockerfile.final.key_values("LABEL")
    assert labels["io.airbyte.name"] == metadata.data.dockerRepository
    assert labels["io.airbyte.version"] == metadata.data.dockerImageTag


def test_entrypoint_equals_airbyte_entrypoint_and_is_absolute(dockerfile: Dockerfile) -> None:
    entrypoint = json.loads(dockerfile.final.last("ENTRYPOINT"))
    assert isinstance(entrypoint, list) and entrypoint, "use the exec (JSON) form"
    env = dockerfile.final.key_values("ENV")
    assert env["AIRBYTE_ENTRYPOINT"] == shlex.join(entrypoint)
    assert all(part.startswith("/") for part in shlex.split(env["AIRBYTE_ENTRYPOINT"]))
    assert entrypoint[0].endswith(f"/bin/{DISTRIBUTION}")


def test_final_stage_runs_as_airbyte_in_integration_code(dockerfile: Dockerfile) -> None:
    assert dockerfile.final.last("USER") == "airbyte"
    assert dockerfile.final.last("WORKDIR") == "/airbyte/integration_code"
    # The venv is the only thing taken from the builder: no CA bundle, no source tree.
    copies = [rest for name, rest in dockerfile.final.instructions if name == "COPY"]
    assert copies and all(rest.startswith("--from=builder /opt/venv ") for rest in copies), copies


def test_dockerfile_leaves_no_pip_config_behind(dockerfile: Dockerfile) -> None:
    final_env = dockerfile.final.key_values("ENV")
    assert not {"PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CONFIG_FILE"} & set(final_env)
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    code = [line for line in lines if not line.lstrip().startswith("#")]
    assert not [line for line in code if "pip.conf" in line or "pip config" in line]


def test_dockerignore_keeps_the_context_small() -> None:
    from docker.utils import build as docker_utils  # a dev dependency: `make install` installs it

    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sent = set(docker_utils.exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile"))
    assert "pyproject.toml" in sent
    assert any(path.startswith("source_customerio/") for path in sent)
    unwanted = (".venv/", ".git/", "unit_tests/", "integration_tests/", "secrets/", ".pytest_cache/")
    leaked = sorted(path for path in sent if path.startswith(unwanted) or "__pycache__" in path)
    assert not leaked, leaked[:10]


def test_icon_is_a_self_contained_svg_named_by_metadata(raw_metadata: dict) -> None:
    """`icon` (Airbyte's metadata schema: data.icon) names an SVG beside metadata.yaml that draws by
    itself: a viewBox to scale by, and nothing fetched or run (no external references, no script)."""
    from xml.etree import ElementTree

    assert raw_metadata["icon"] == "icon.svg"
    path = ROOT / raw_metadata["icon"]
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.get("viewBox", "").split()) == 4
    elements = [element.tag.rpartition("}")[2] for element in root.iter()]
    assert "script" not in elements and "image" not in elements and "foreignObject" not in elements
    attributes = [value for element in root.iter() for value in element.attrib.values()]
    assert not [value for value in attributes if "http" in value or "url(" in value]
