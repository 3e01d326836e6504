"""Mutation testing of the code that spends credits and touches files (`make mutate`).

Runs mutmut (configured in pyproject's `[tool.mutmut]`: which modules) module by
module, each against its fast tests (`benchmarks/mutation_tests.toml`; a module
not listed there gets pyproject's whole selection), and writes
`benchmarks/MUTATION.md`: killed, survived, untested and timed-out mutants per
module, and every survivor with its diff. A survivor that is equivalent to the
original (no test could tell them apart) is explained in
`benchmarks/mutation_equivalent.toml`; the report marks it so.

mutmut forgets every verdict when its test selection changes, so each module's
verdicts are kept in `benchmarks/mutation_verdicts.json` (tracked: they took hours
to find) with the hash of every function they were found on. A verdict holds while
its function is unchanged; a run of the module then tries only the mutants of
functions changed since (or never tried).
Every mutant's tests are a new pytest session: one throwaway PostgreSQL server
serves them all (`tests/plugins/postgres.py`'s `shared_cluster`).

    python -m benchmarks.mutate                # every configured module
    python -m benchmarks.mutate --only kitta_notebook/_kept.py  # one module (repeatable)
    python -m benchmarks.mutate 'kitta_notebook._kept.x_keep_file__mutmut_44'  # again
    python -m benchmarks.mutate --again --only kitta_notebook/_kept.py  # all its mutants
    python -m benchmarks.mutate --report       # the report from the kept verdicts
    nice -n 19 python -m benchmarks.mutate --max-children 1 ...  # on a shared machine

Not part of `make test`: it takes long. Run it before a release and after a
change to any module it lists.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "benchmarks" / "MUTATION.md"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.toml"
TESTS = ROOT / "benchmarks" / "mutation_tests.toml"
VERDICTS = ROOT / "benchmarks" / "mutation_verdicts.json"
DIFFS = ROOT / "mutants" / "diffs.json"
TARGET = 0.95
# mutmut's exit codes of a mutant's test run (see mutmut.stats).
KILLED = {1, 3, 37}
SURVIVED = {0}
UNTESTED = {5, 33}
TIMEOUT = {24, -24, 36, 152, 255}
# mutmut with another test selection than pyproject's: its config is read once and cached.
RUN_WITH_TESTS = (
    "import json, sys\n"
    "from mutmut.configuration import config\n"
    "from mutmut.__main__ import cli\n"
    "config().pytest_add_cli_args_test_selection = json.loads(sys.argv[1])\n"
    "sys.argv[0] = 'mutmut'\n"
    "cli(sys.argv[2:])\n"
)


@dataclass
class ModuleScore:
    """What became of one module's mutants."""

    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    run: dict[str, Any] | None = None  # its entry of mutation_verdicts.json

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def score(self, explained: int) -> float:
        """Killed (and timed-out, which fail loudly too) share of the mutants tried,
        equivalent ones excluded."""
        considered = self.total - explained - self.counts["not run"]
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


def tests_for(module: str) -> list[str]:
    """The fast tests of `module`, else pyproject's whole selection."""
    listed: dict[str, list[str]] = tomllib.loads(TESTS.read_text()) if TESTS.exists() else {}
    return listed.get(module) or mutmut_config()["pytest_add_cli_args_test_selection"]


def mutant_pattern(module: str) -> str:
    """mutmut's name pattern for every mutant of `module` (a path of `only_mutate`)."""
    return module.removesuffix(".py").removesuffix("/__init__").replace("/", ".") + ".*"


def module_of(name: str) -> str | None:
    return next((m for m in configured_modules() if fnmatch.fnmatch(name, mutant_pattern(m))), None)


def source_hash(module: str) -> str:
    return hashlib.sha256((ROOT / module).read_bytes()).hexdigest()[:16]


@functools.cache
def mutants_now(module: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The hash of each function of `module` and its mutants' names, as mutmut makes them
    from today's source (mutmut is imported here: it is the `mutation` group's)."""
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name

    made = mutate_file_contents(module, (ROOT / module).read_text())
    names = tuple(get_mutant_name(Path(module), name) for name in made.mutant_names)
    return dict(made.hash_by_function_name), names


def function_of(name: str) -> str:
    return name.partition("__mutmut_")[0].rpartition(".")[2]


def current_codes(module: str, run: dict[str, Any] | None) -> dict[str, int | None]:
    """Every mutant of `module` today, with its kept verdict while its function is unchanged
    (None: not tried on this function's source)."""
    hashes, names = mutants_now(module)
    then = run.get("functions", {}) if run else {}
    codes = run.get("codes", {}) if run else {}
    return {
        name: codes.get(name)
        if then.get(function_of(name)) == hashes.get(function_of(name))
        else None
        for name in names
    }


def kept_verdicts() -> dict[str, dict[str, Any]]:
    return json.loads(VERDICTS.read_text()) if VERDICTS.exists() else {}


def keep_verdicts(module: str, tests: list[str], tried: list[str]) -> None:
    """Merge what mutmut just found for the `tried` mutants of `module` into the kept verdicts:
    their new verdicts win, the others keep theirs while their function is unchanged, and
    mutants that no longer exist are dropped."""
    found = json.loads((ROOT / "mutants" / f"{module}.meta").read_text())["exit_code_by_key"]
    kept, tried_now = kept_verdicts(), set(tried)
    before = kept.get(module)
    old = current_codes(module, before)
    codes = {
        name: found.get(name) if name in tried_now and found.get(name) is not None else code
        for name, code in old.items()
    }
    carried = any(code is not None and name not in tried_now for name, code in old.items())
    kept[module] = {
        "functions": mutants_now(module)[0],
        "tests": sorted(set(before["tests"]) | set(tests)) if before and carried else tests,
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "codes": codes,
    }
    VERDICTS.write_text(json.dumps(kept, indent=1, sort_keys=True))


def scores(modules: list[str]) -> dict[str, ModuleScore]:
    kept = kept_verdicts()
    out: dict[str, ModuleScore] = {}
    for module in modules:
        score = out.setdefault(module, ModuleScore(run=kept.get(module)))
        if score.run is None:
            continue
        score.run = {**score.run, "codes": current_codes(module, score.run)}
        for name, code in sorted(score.run["codes"].items()):
            kind = verdict(code)
            score.counts[kind] += 1
            if kind in ("survived", "untested", "suspicious", "not run"):
                score.survivors.append(name)
    return out


def mutmut(*args: str) -> list[str]:
    """The mutmut command beside this interpreter (`python -m mutmut` re-imports itself)."""
    return [str(Path(sys.executable).parent / "mutmut"), *args]


def diff_of(name: str, cache: dict[str, str]) -> str:
    """The mutant's diff (`mutmut show`), remembered in `mutants/diffs.json` by its module's
    hash: a mutant's name means the same change only while its module is unchanged."""
    module = module_of(name)
    key = f"{name} {source_hash(module) if module else ''}"
    if not cache.get(key):  # an empty one: mutmut could not show it then (no mutants/ yet)
        cache[key] = _show(name)
    return cache[key]


def _show(name: str) -> str:
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


def _row(module: str, score: ModuleScore, explained: int) -> str:
    if score.run is None:
        return f"| `{module}` | not run yet | | | | | | | |"
    c = score.counts
    return (
        f"| `{module}` | {score.total} | {c['killed']} | {c['timeout']} | {c['survived']} "
        f"| {c['untested'] + c['suspicious']} | {explained} | {c['not run']} "
        f"| {score.score(explained):.1%} |"
    )


def _equivalent(why: str | None) -> bool:
    """An explained survivor leaves the score only when it is equivalent; one that no test
    here can reach ("NOT equivalent, …") still counts as not killed."""
    return bool(why) and not str(why).startswith("NOT equivalent")


def write_report(modules: list[str]) -> float:
    equivalent: dict[str, str] = (
        tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    )
    by_module = scores(modules)
    cache: dict[str, str] = json.loads(DIFFS.read_text()) if DIFFS.exists() else {}
    rows, details, runs = [], [], []
    caught = considered = 0
    for module, score in by_module.items():
        explained = sum(
            1
            for name in score.survivors
            if score.run
            and score.run["codes"][name] is not None
            and _equivalent(equivalent.get(name))
        )
        rows.append(_row(module, score, explained))
        if score.run is None:
            continue
        caught += score.counts["killed"] + score.counts["timeout"]
        considered += score.total - explained - score.counts["not run"]
        tests = ", ".join(f"`{t}`" for t in score.run["tests"])
        runs.append(f"- `{module}` ({score.run['written']}): {tests}")
        for name in score.survivors:
            if score.run["codes"][name] is None:  # counted, but not shown one by one
                continue
            why = equivalent.get(name)
            head = f"- `{name}` ({verdict(score.run['codes'][name])})"
            if why and not _equivalent(why):  # explained, but a survivor all the same
                head += f": survived, {why}"
            else:
                head += f": equivalent, {why}" if why else ": **not killed yet**"
            details.append(head)
            diff = diff_of(name, cache).replace("\n", "\n  ")
            details.append("  ```diff\n  " + diff + "\n  ```")
    overall = caught / considered if considered else 0.0  # nothing run proves nothing
    not_run = [m for m, s in by_module.items() if s.run is None]
    partly = {m: s.counts["not run"] for m, s in by_module.items() if s.run and s.counts["not run"]}
    text = [
        "# Mutation testing: the billing and file paths",
        "",
        f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        "`python -m benchmarks.mutate` (mutmut) from the verdicts kept in "
        "`benchmarks/mutation_verdicts.json`. Each module runs against its fast tests "
        "(`benchmarks/mutation_tests.toml`, listed below). Equivalent survivors are "
        "explained in `mutation_equivalent.toml` and left out of the score (those it calls "
        "NOT equivalent, no test here can reach them, count as survivors); untested "
        "mutants (no selected test reaches them) count as not killed; mutants not run yet "
        "(a run stopped early, or their function changed since its run) are left out of "
        "the score and counted apart.",
        "",
        f"**Overall: {overall:.1%} of mutants killed** on the "
        f"{len(by_module) - len(not_run)} modules run (target {TARGET:.0%})."
        + (f" Not run yet: {len(not_run)} of {len(by_module)} modules." if not_run else "")
        + "".join(f" Not run yet: {n} mutants of `{m}`." for m, n in partly.items()),
        "",
        "| module | mutants | killed | timeout | survived | untested | equivalent | not run yet "
        "| score |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "## Tests per module (when run)",
        "",
        *(runs or ["None run yet."]),
        "",
        "## Survivors",
        "",
        *(details or ["None."]),
        "",
    ]
    REPORT.write_text("\n".join(text))
    if DIFFS.parent.is_dir():
        DIFFS.write_text(json.dumps(cache, indent=1, sort_keys=True))
    return overall


def run_module(module: str, names: list[str], max_children: int | None, again: bool) -> int:
    """mutmut over `names` (default: the mutants of `module` without a verdict on today's
    source; with `again`, every one) with the module's tests."""
    if not names:
        codes = current_codes(module, None if again else kept_verdicts().get(module))
        names = [name for name, code in codes.items() if code is None]
        if not names:
            print(f"{module}: every mutant has a verdict on today's source")
            return 0
    tests = tests_for(module)
    extra = ["--max-children", str(max_children)] if max_children else []
    log = ROOT / "mutants" / "run.log"
    log.parent.mkdir(exist_ok=True)
    command = [sys.executable, "-c", RUN_WITH_TESTS, json.dumps(tests), "run", *extra]
    from tests.plugins.postgres import shared_cluster  # one server for every mutant's session

    with log.open("a") as out, shared_cluster():
        out.write(f"\n=== {module}: {' '.join(tests)}\n")
        out.flush()
        done = subprocess.run(
            [*command, *names],
            cwd=ROOT,
            stdout=out,
            stderr=out,
            check=False,
        )
    if done.returncode != 0:
        print(f"mutmut failed on {module} (exit {done.returncode}); see mutants/run.log")
        return done.returncode
    keep_verdicts(module, tests, names)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutate")
    parser.add_argument("names", nargs="*", help="mutants to run (again), as mutmut names them")
    parser.add_argument(
        "--only",
        action="append",
        metavar="MODULE",
        help="run only this module of `only_mutate` (repeatable)",
    )
    parser.add_argument(
        "--report", action="store_true", help="write the report from kept verdicts; run nothing"
    )
    parser.add_argument("--max-children", type=int, help="mutmut's parallel test runs")
    parser.add_argument(
        "--again", action="store_true", help="every mutant, also those with a verdict"
    )
    parser.add_argument("--no-report", action="store_true", help="run, keep verdicts, no report")
    args = parser.parse_args(argv)
    configured = configured_modules()
    unknown = [m for m in args.only or [] if m not in configured]
    unknown += [n for n in args.names if module_of(n) is None]
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(unknown)}")
    if not args.report:
        by_module: dict[str, list[str]] = {}
        for name in args.names:
            by_module.setdefault(str(module_of(name)), []).append(name)
        for module in args.only or ([] if args.names else configured):
            by_module.setdefault(module, [])
        for module, names in by_module.items():
            started = time.monotonic()
            if failed := run_module(module, names, args.max_children, args.again):
                return failed
            print(f"{module}: {(time.monotonic() - started) / 60:.0f} min")
    if args.no_report:
        return 0
    overall = write_report(configured)
    print(f"{overall:.1%} killed; report in {REPORT.relative_to(ROOT)}")
    return 0 if overall >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
