"""`make demo`: read every stream through the Docker image from a local Customer.io sandbox.

For someone with no Customer.io account: starts the sandbox on loopback, then runs the image's
`check`, `discover` and `read` (config and catalog mounted read-only, `--network host`), and prints
the records per stream beside what the sandbox holds, and a person's typed attribute columns (the read
uses the `customers` schema discover made). Then a deletion: an incremental read of campaigns, one
campaign deleted in the sandbox, and the tombstone the next incremental read emits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from integration_tests.connector import STREAMS, catalog, parse_messages
from integration_tests.sandbox import Sandbox

IMAGE = os.environ.get("CONNECTOR_IMAGE", "source-customerio:dev")
API_KEY = "demo-key"


def docker_run(folder: Path, *args: str) -> list[dict]:
    command = [
        "docker", "run", "--rm", "--network", "host",
        "-v", f"{folder}:/airbyte/secrets:ro", IMAGE, *args,
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"the image exited with {done.returncode}")
    return parse_messages(done.stdout)


def main() -> None:
    with (
        Sandbox(seed=1, size="small", api_key=API_KEY, requests_per_second=10) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        folder = Path(tmp)
        os.chmod(folder, 0o755)
        (folder / "config.json").write_text(
            json.dumps({"access_token": API_KEY, "base_url": sandbox.base_url})
        )
        for path in folder.iterdir():
            os.chmod(path, 0o644)
        print(f"Sandbox: {sandbox.base_url} (key {API_KEY!r})")
        check = docker_run(folder, "check", "--config", "/airbyte/secrets/config.json")
        status = next(m["connectionStatus"] for m in check if m["type"] == "CONNECTION_STATUS")
        print(f"check: {status['status']} - {status.get('message', '')}")
        discovered = docker_run(folder, "discover", "--config", "/airbyte/secrets/config.json")
        streams = next(m["catalog"]["streams"] for m in discovered if m["type"] == "CATALOG")
        print(f"discover: {len(streams)} streams")
        # The customers schema as discover typed it, so that the read fills its typed attribute columns.
        schemas = {stream["name"]: stream["json_schema"] for stream in streams}
        write(folder, "catalog.json", catalog(schemas={"customers": schemas["customers"]}))
        read = docker_run(
            folder,
            "read",
            "--config",
            "/airbyte/secrets/config.json",
            "--catalog",
            "/airbyte/secrets/catalog.json",
        )
        counts: dict[str, int] = {}
        for message in read:
            if message["type"] == "RECORD":
                counts[message["record"]["stream"]] = counts.get(message["record"]["stream"], 0) + 1
        print(f"\n{'stream':<24}{'records':>10}{'in sandbox':>12}")
        for stream in STREAMS:
            print(f"{stream:<24}{counts.get(stream, 0):>10}{sandbox.truth(stream)['count']:>12}")
        print(f"{'total':<24}{sum(counts.values()):>10}")
        show_typed_columns(read)
        show_a_tombstone(folder, sandbox)


def show_typed_columns(read: list[dict]) -> None:
    people = [
        m["record"]["data"] for m in read if m["type"] == "RECORD" and m["record"]["stream"] == "customers"
    ]
    person = max(people, key=lambda p: sum(k.startswith("attr_") for k in p))
    shown = ("created_at", "age", "ltv", "vip", "zip", "Signup Source")
    print("\nA person's raw attributes and their typed columns (attr_<name>, types from discover's sample):")
    print(
        json.dumps(
            {"cio_id": person["cio_id"], "attributes": {k: person["attributes"].get(k) for k in shown}}
        )
    )
    print(json.dumps({k: v for k, v in sorted(person.items()) if k.startswith("attr_")}))


def write(folder: Path, name: str, content: object) -> None:
    (folder / name).write_text(json.dumps(content))
    os.chmod(folder / name, 0o644)


def show_a_tombstone(folder: Path, sandbox: Sandbox) -> None:
    write(folder, "campaigns.json", catalog(["campaigns"], incremental=True))
    secrets = "/airbyte/secrets"
    args = ["read", "--config", f"{secrets}/config.json", "--catalog", f"{secrets}/campaigns.json"]
    first = docker_run(folder, *args)
    write(folder, "state.json", [m["state"] for m in first if m["type"] == "STATE"][-1:])
    (deleted,) = sandbox.mutate("campaigns", "delete", 1)["keys"]
    print(f"\nCampaign {deleted} deleted in the sandbox; the next incremental read of campaigns emits:")
    second = docker_run(folder, *args, "--state", f"{secrets}/state.json")
    for message in second:
        data = message["record"]["data"] if message["type"] == "RECORD" else {}
        if data.get("_ab_cdc_deleted_at"):
            print(json.dumps(data))


if __name__ == "__main__":
    main()
