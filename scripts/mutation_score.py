"""Print the score of the last `mutmut run` (`make mutation`): killed / total per file, and the survivors.
With --survivors, print only the names of the surviving mutants (for `mutmut run NAME...`).

Reads mutmut's per-file results (mutants/**/*.py.meta). A mutant the tests time out on counts as
killed (the mutant made a loop endless; the tests noticed). Exits 1 below the required score, or
when a mutant was left unchecked.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

REQUIRED_SCORE = 0.85
MUTANTS = Path("mutants")

# mutmut 3's exit codes of a mutant's test run (mutmut/stats.py).
KILLED = {
    1: "killed",
    3: "killed",
    36: "timeout",
    24: "timeout",  # SIGXCPU: the CPU-time limit
    -24: "timeout",
    152: "timeout",
    255: "timeout",
}
OTHER = {5: "no tests", 33: "no tests", 34: "skipped", 37: "caught by type check"}
SURVIVED = {0: "survived"}


def status_of(exit_code: int | None) -> str:
    if exit_code is None:
        return "not checked"
    if exit_code in KILLED:
        return KILLED[exit_code]
    if exit_code in SURVIVED:
        return "survived"
    return OTHER.get(exit_code, "suspicious")


def survivor_names() -> list[str]:
    """The mutants that survived the last time they were tested: tests added since may kill them."""
    names = []
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        names += [mutant for mutant, code in sorted(exit_codes.items()) if status_of(code) == "survived"]
    return names


def main() -> int:
    if sys.argv[1:] == ["--survivors"]:
        print("\n".join(survivor_names()))
        return 0
    metas = sorted(MUTANTS.rglob("*.py.meta"))
    if not metas:
        print("No mutmut results under mutants/: run `make mutation`.")
        return 1
    total = killed = 0
    survivors: list[str] = []
    unchecked: list[str] = []
    for meta in metas:
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not exit_codes:
            continue
        statuses = Counter(status_of(code) for code in exit_codes.values())
        file_killed = statuses["killed"] + statuses["timeout"]
        name = str(meta.relative_to(MUTANTS)).removesuffix(".meta")
        details = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
        print(f"{name}: {file_killed} / {len(exit_codes)} killed ({details})")
        total += len(exit_codes)
        killed += file_killed
        for mutant, code in sorted(exit_codes.items()):
            status = status_of(code)
            if status == "not checked":
                unchecked.append(mutant)
            elif status not in ("killed", "timeout"):
                survivors.append(f"{mutant} ({status})")
    score = killed / total if total else 0.0
    print(f"\nScore: {killed} / {total} killed = {score:.1%} (required: {REQUIRED_SCORE:.0%})")
    if survivors:
        print(f"\nSurvivors ({len(survivors)}; `mutmut show NAME` shows one; docs/mutation.md: why):")
        for survivor in survivors:
            print(f"  {survivor}")
    if unchecked:
        print(f"\n{len(unchecked)} mutants not checked (an interrupted run?): run `make mutation` again.")
        return 1
    return 0 if score >= REQUIRED_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
