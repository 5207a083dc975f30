"""What was measured on: the machine, and the connector's commit and CDK version."""

from __future__ import annotations

import os
import platform
import subprocess

from integration_tests.bench.processes import ROOT


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as info:
            total_kb = int(info.readline().split()[1])
        memory = f"{total_kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "connector": connector_version(),
        "CPU": model,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": f"{platform.system()} {platform.release()}",
        "load average at start (1/5/15 min)": load,
    }


def connector_version() -> str:
    """The commit measured, and whether source_customerio/ differs from it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        cdk = version("airbyte-cdk")
    except PackageNotFoundError:
        cdk = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "source_customerio"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"airbyte-cdk {cdk}"
    changes = " + uncommitted changes in source_customerio/" if dirty else ""
    return f"commit {commit}{changes}, airbyte-cdk {cdk}"
