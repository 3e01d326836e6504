"""Mutation testing of the code that spends credits and touches files (`make mutate`).

Runs mutmut (configured in pyproject's `[tool.mutmut]`: which modules, which
fast tests) and writes `benchmarks/MUTATION.md`: killed, survived, untested and
timed-out mutants per module, and every survivor with its diff. A survivor that
is equivalent to the original (no test could tell them apart) is explained in
`benchmarks/mutation_equivalent.toml`; the report marks it so.

    python -m benchmarks.mutate                # everything configured
    python -m benchmarks.mutate 'kitta_notebook.validation.*'   # some mutants again
    python -m benchmarks.mutate --only kitta_notebook/_kept.py  # one module, run and reported
    python -m benchmarks.mutate --only kitta_notebook/_kept.py --report  # report stored verdicts

Not part of `make test`: it takes long. Run it before a release and after a
change to any module it lists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "benchmarks" / "MUTATION.md"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.toml"
TARGET = 0.95
# mutmut's exit codes of a mutant's test run (see mutmut.stats).
KILLED = {1, 3, 37}
SURVIVED = {0}
UNTESTED = {5, 33}
TIMEOUT = {24, -24, 36, 152, 255}


@dataclass
class ModuleScore:
    """What became of one module's mutants."""

    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def score(self, explained: int) -> float:
        """Killed (and timed-out, which fail loudly too) share, equivalent ones excluded."""
        considered = self.total - explained
        caught = self.counts["killed"] + self.counts["timeout"]
        return caught / considered if considered else 1.0


def verdict(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in UNTESTED:
        return "untested"
    if code in TIMEOUT:
        return "timeout"
    return "not run" if code is None else "suspicious"


def mutmut_config() -> dict[str, list[str]]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"])


def configured_modules() -> list[str]:
    return list(mutmut_config()["only_mutate"])


def mutant_pattern(module: str) -> str:
    """mutmut's name pattern for every mutant of `module` (a path of `only_mutate`)."""
    return module.removesuffix(".py").replace("/", ".") + ".*"


def scores(modules: list[str]) -> dict[str, ModuleScore]:
    out: dict[str, ModuleScore] = {}
    for module in modules:
        meta = ROOT / "mutants" / f"{module}.meta"
        score = out.setdefault(module, ModuleScore())
        if not meta.exists():
            continue
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            kind = verdict(code)
            score.counts[kind] += 1
            if kind in ("survived", "untested"):
                score.survivors.append(name)
    return out


def mutmut(*args: str) -> list[str]:
    """The mutmut command beside this interpreter (`python -m mutmut` re-imports itself)."""
    return [str(Path(sys.executable).parent / "mutmut"), *args]


def diff_of(name: str) -> str:
    shown = subprocess.run(
        mutmut("show", name),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [
        line
        for line in shown.stdout.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    return "\n".join(lines[:12])


def write_report(modules: list[str], seconds: float | None, *, only: bool = False) -> float:
    equivalent: dict[str, str] = (
        tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    )
    by_module = scores(modules)
    rows, details = [], []
    caught = considered = 0
    for module, score in by_module.items():
        explained = sum(1 for name in score.survivors if name in equivalent)
        caught += score.counts["killed"] + score.counts["timeout"]
        considered += score.total - explained
        c = score.counts
        rows.append(
            f"| `{module}` | {score.total} | {c['killed']} | {c['timeout']} | {c['survived']} "
            f"| {c['untested']} | {explained} | {score.score(explained):.1%} |"
        )
        for name in score.survivors:
            why = equivalent.get(name)
            head = f"- `{name}` ({verdict_of(name, module)})"
            head += f": equivalent, {why}" if why else ": **not killed yet**"
            details.append(head)
            details.append("  ```diff\n  " + diff_of(name).replace("\n", "\n  ") + "\n  ```")
    overall = caught / considered if considered else 1.0
    configured = configured_modules()
    how = (
        "from the verdicts stored in `mutants/`"
        if seconds is None
        else f"with `make mutate` (mutmut, {seconds / 60:.0f} min)"
    )
    scope = (
        "all modules of `[tool.mutmut]` in pyproject.toml"
        if not only
        else f"{len(modules)} of the {len(configured)} modules of `[tool.mutmut]` "
        f"(`--only`): {', '.join(f'`{m}`' for m in modules)}"
    )
    tests = ", ".join(f"`{t}`" for t in mutmut_config()["pytest_add_cli_args_test_selection"])
    text = [
        "# Mutation testing: the billing and file paths",
        "",
        f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} {how}. "
        f"Modules: {scope}. Tests: {tests}. Equivalent survivors are explained in "
        "`mutation_equivalent.toml` and left out of the score.",
        "",
        f"**Overall: {overall:.1%} of mutants killed** (target {TARGET:.0%}).",
        "",
        "| module | mutants | killed | timeout | survived | untested | equivalent | score |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "## Survivors",
        "",
        *(details or ["None."]),
        "",
    ]
    REPORT.write_text("\n".join(text))
    return overall


def verdict_of(name: str, module: str) -> str:
    meta = json.loads((ROOT / "mutants" / f"{module}.meta").read_text())
    return verdict(meta["exit_code_by_key"][name])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutate")
    parser.add_argument("names", nargs="*", help="mutants to run (again), as mutmut names them")
    parser.add_argument(
        "--only",
        action="append",
        metavar="MODULE",
        help="run and report only this module of `only_mutate` (repeatable)",
    )
    parser.add_argument(
        "--report", action="store_true", help="write the report from stored verdicts; run nothing"
    )
    args = parser.parse_args(argv)
    modules = args.only or configured_modules()
    unknown = [m for m in modules if m not in configured_modules()]
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(unknown)}")
    seconds = None
    if not args.report:
        names = args.names or ([mutant_pattern(m) for m in modules] if args.only else [])
        started = time.monotonic()
        log = ROOT / "mutants" / "run.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as out:
            run = subprocess.run(
                mutmut("run", *names), cwd=ROOT, stdout=out, stderr=out, check=False
            )
        if run.returncode != 0:
            print(f"mutmut failed (exit {run.returncode}); see {log.relative_to(ROOT)}")
            return run.returncode
        seconds = time.monotonic() - started
    overall = write_report(modules, seconds, only=bool(args.only))
    print(f"{overall:.1%} killed; report in {REPORT.relative_to(ROOT)}")
    return 0 if overall >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
