"""The Docker image behaves like the package: spec, check, discover and read run in the
container against the local sandbox and give the same records as an in-process read.

Needs a Docker engine and the connector image; the fixtures, and the environment that chooses
the image, are in image_fixtures.py.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from integration_tests.connector import catalog as catalog_of
from integration_tests.connector import key_of
from integration_tests.image_fixtures import (
    API_KEY,
    IoDir,
    Run,
    connector_config,
    metadata,
    run_container,
    run_errors,
    run_in_process,
)
from integration_tests.sandbox import Sandbox
from integration_tests.scenarios import coerced_by_hand, keys_from, truth_cursors, typed_columns
from source_customerio.streams.attribute_columns import column_name

pytestmark = pytest.mark.image_tests


def record_multiset(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Records without emitted_at, order-free."""
    return Counter((r["stream"], json.dumps(r["data"], sort_keys=True)) for r in records)


def test_spec_prints_one_spec_message(docker_client: Any, connector_image: str) -> None:
    run = run_container(docker_client, connector_image, ["spec"])
    assert run.exit_code == 0, run.describe()
    specs = run.of_type("SPEC")
    assert len(specs) == 1, run.describe()
    properties = specs[0]["spec"]["connectionSpecification"]["properties"]
    assert "access_token" in properties


def test_image_runs_as_airbyte_with_absolute_entrypoint(docker_client: Any, connector_image: str) -> None:
    config = docker_client.images.get(connector_image).attrs["Config"]
    assert config["User"] == "airbyte"
    assert config["WorkingDir"] == "/airbyte/integration_code"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["AIRBYTE_ENTRYPOINT"] == " ".join(config["Entrypoint"])
    assert all(part.startswith("/") for part in config["Entrypoint"])

    probe = run_container(
        docker_client,
        connector_image,
        [
            "-c",
            'id -un; id -u; touch /airbyte/probe && echo writable; test -x "$AIRBYTE_ENTRYPOINT" && echo x',
        ],
        entrypoint="/bin/sh",
    )
    assert probe.exit_code == 0, probe.describe()
    assert probe.stdout.split() == ["airbyte", "1000", "writable", "x"], probe.describe()


def test_image_labels_match_metadata(docker_client: Any, connector_image: str) -> None:
    data = metadata()
    labels = docker_client.images.get(connector_image).labels
    assert labels["io.airbyte.name"] == data["dockerRepository"]
    assert labels["io.airbyte.version"] == str(data["dockerImageTag"])


def test_image_has_no_build_time_ca_or_pip_config(docker_client: Any, connector_image: str) -> None:
    probe = run_container(
        docker_client,
        connector_image,
        ["-c", "ls /tmp/build-ca /build /etc/pip.conf /etc/xdg/pip ~/.config/pip 2>/dev/null; env"],
        entrypoint="/bin/sh",
    )
    assert "pip-ca-bundle" not in probe.stdout and "PIP_CERT" not in probe.stdout, probe.describe()


def test_check_succeeds_and_fails_with_a_wrong_key(
    docker_client: Any, connector_image: str, io_dir: IoDir
) -> None:
    good = run_container(
        docker_client, connector_image, ["check", "--config", io_dir.inside("config.json")], io_dir.path
    )
    statuses = [m["connectionStatus"]["status"] for m in good.of_type("CONNECTION_STATUS")]
    assert statuses == ["SUCCEEDED"], good.describe()
    assert API_KEY not in good.stdout, "the key leaked into the connector's output"

    bad = run_container(
        docker_client, connector_image, ["check", "--config", io_dir.inside("bad_config.json")], io_dir.path
    )
    statuses = [m["connectionStatus"]["status"] for m in bad.of_type("CONNECTION_STATUS")]
    assert statuses == ["FAILED"], bad.describe()
    assert "not-the-key" not in bad.stdout, "the key leaked into the connector's output"


def test_discover_lists_streams_with_schemas(discovered: Run, catalog: dict[str, Any]) -> None:
    assert discovered.exit_code == 0, discovered.describe()
    assert catalog["streams"], discovered.describe()
    for entry in catalog["streams"]:
        schema = entry["stream"]["json_schema"]
        assert schema.get("properties"), f"{entry['stream']['name']}: empty schema (package data missing?)"


def test_docker_read_equals_in_process_read(docker_read: Run, io_dir: IoDir) -> None:
    local = run_in_process(
        ["read", "--config", str(io_dir.path / "config.json"), "--catalog", str(io_dir.path / "catalog.json")]
    )
    assert local.exit_code == 0 and not run_errors(local), local.describe()
    in_docker, in_process = record_multiset(docker_read.records()), record_multiset(local.records())
    assert sum(in_docker.values()) > 0, "the read returned no records at all"
    only_docker, only_local = in_docker - in_process, in_process - in_docker
    assert not only_docker and not only_local, (
        f"{sum(only_docker.values())} records only in Docker, e.g. {list(only_docker)[:3]}; "
        f"{sum(only_local.values())} only in-process, e.g. {list(only_local)[:3]}"
    )
    streams_docker = Counter(r["stream"] for r in docker_read.records())
    streams_local = Counter(r["stream"] for r in local.records())
    assert streams_docker == streams_local


def test_read_with_state_resumes(
    docker_client: Any,
    connector_image: str,
    io_dir: IoDir,
    catalog: dict[str, Any],
    docker_read: Run,
    image_sandbox: Any,
) -> None:
    """Resumed from the first read's last states (no lookback), each incremental stream returns
    exactly the sandbox's records at or after its saved cursor."""
    last_state: dict[str, dict[str, Any]] = {}
    for message in docker_read.of_type("STATE"):
        state = message["state"]
        if state.get("type") == "STREAM":
            last_state[state["stream"]["stream_descriptor"]["name"]] = state
    cursors = {
        entry["stream"]["name"]: entry["cursor_field"][0]
        for entry in catalog["streams"]
        if entry["sync_mode"] == "incremental" and len(entry.get("cursor_field") or []) == 1
    }
    # Streams whose state is one cursor value (child streams keep one per parent).
    blobs = {
        name: (state.get("stream") or {}).get("stream_state") or {} for name, state in last_state.items()
    }
    saved = {
        name: blobs[name][cursor]
        for name, cursor in cursors.items()
        if isinstance(blobs.get(name, {}).get(cursor), int)
    }
    assert {"campaigns", "newsletters", "messages"} <= set(saved), (cursors, last_state)

    io_dir.write("state.json", list(last_state.values()))
    resumed = run_container(
        docker_client,
        connector_image,
        [
            "read",
            "--config",
            io_dir.inside("config.json"),
            "--catalog",
            io_dir.inside("catalog.json"),
            "--state",
            io_dir.inside("state.json"),
        ],
        io_dir.path,
    )
    assert resumed.exit_code == 0 and not run_errors(resumed), resumed.describe()
    fewer = 0
    for name in saved:
        expected = keys_from(truth_cursors(image_sandbox, name), saved[name])
        got = [key_of(name, r["data"]) for r in resumed.records() if r["stream"] == name]
        assert sorted(got) == sorted(expected), (name, saved[name])
        fewer += image_sandbox.truth(name, keys=False)["count"] - len(expected)
    assert fewer > 0, "every record was at or after its saved cursor: the resume filtered nothing"


def test_typed_attribute_columns_through_the_image(catalog: dict[str, Any], docker_read: Run) -> None:
    """discover (in the image) typed the sampled people's attributes; the read (in the image, with that
    catalog) filled each column with its raw value coerced, and kept the raw value in `attributes`."""
    [customers] = [s["stream"] for s in catalog["streams"] if s["stream"]["name"] == "customers"]
    columns = {k: v for k, v in customers["json_schema"]["properties"].items() if k.startswith("attr_")}
    assert columns["attr_created_at"]["type"] == ["null", "integer"], columns
    assert columns["attr_created_at"]["format"] == "unix timestamp"
    assert {columns[c]["type"][1] for c in ("attr_age", "attr_ltv", "attr_vip", "attr_zip")} == {
        "integer", "number", "boolean", "string"
    }  # fmt: skip
    kinds = {name: prop["type"][1] for name, prop in columns.items()}
    records = [r["data"] for r in docker_read.records() if r["stream"] == "customers"]
    filled = 0
    for record in records:
        want = {}
        for raw, value in record["attributes"].items():
            name = column_name(raw)
            if name in kinds and coerced_by_hand(kinds[name], str(value)) is not None:
                want[name] = coerced_by_hand(kinds[name], str(value))
        got = typed_columns(record)
        assert got == want, record["cio_id"]
        filled += len(got)
    assert records and filled > len(records), "hardly any typed value was filled"


def test_a_deleted_campaign_comes_back_as_a_tombstone_through_the_image(
    docker_client: Any, connector_image: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two incremental reads of campaigns in the image, a campaign deleted in between: the second read
    emits exactly that campaign's key with `_ab_cdc_deleted_at` set."""
    folder = IoDir(tmp_path_factory.mktemp("image-deletions"))
    with Sandbox(seed=3, size="tiny", api_key=API_KEY, requests_per_second=0) as sandbox:
        folder.write("config.json", connector_config(sandbox))
        folder.write("catalog.json", catalog_of(["campaigns"], incremental=True))
        args = ["read", "--config", folder.inside("config.json"), "--catalog", folder.inside("catalog.json")]
        first = run_container(docker_client, connector_image, args, folder.path)
        assert first.exit_code == 0 and not run_errors(first), first.describe()
        folder.write("state.json", [m["state"] for m in first.of_type("STATE")][-1:])
        (deleted,) = sandbox.mutate("campaigns", "delete", 1)["keys"]
        second = run_container(
            docker_client, connector_image, [*args, "--state", folder.inside("state.json")], folder.path
        )
    assert second.exit_code == 0 and not run_errors(second), second.describe()
    tombstones = [r["data"] for r in second.records() if r["data"].get("_ab_cdc_deleted_at")]
    assert [str(t["id"]) for t in tombstones] == [str(deleted)], second.describe()
    assert set(tombstones[0]) == {"id", "updated", "_ab_cdc_deleted_at"}
