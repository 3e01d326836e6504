"""What a new install trips on, checked cheaply (seconds): declared dependencies, the
licence, the sandbox command on a bare install, `help()`, and a clean exit after close.

Subprocesses run the `kitta_notebook` that this test imports (its folder first on
PYTHONPATH), so they check the same code as the rest of the run.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

import kitta_notebook

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(kitta_notebook.__file__).resolve().parent
tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the other runs cover 3.10


def run_python(code: str, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(PACKAGE.parent)  # KITTA_HOME stays the test's own
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tempfile.gettempdir(),  # not the repository: `-c` puts the cwd first on sys.path
    )


def declared() -> dict[str, set[str]]:
    """Distribution names (normalised) per extra; "" is the base install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}

    def name(requirement: str) -> str:
        for stop in "<>=!~[; ":
            requirement = requirement.split(stop)[0]
        return requirement.strip().lower().replace("_", "-")

    return {extra: {name(r) for r in reqs} for extra, reqs in groups.items()}


def third_party_imports(folder: Path) -> set[str]:
    """Top-level modules imported anywhere in `folder` that are not ours or the stdlib."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "kitta_notebook"}


def test_every_module_the_package_imports_is_declared() -> None:
    """pydantic (sandbox) and traitlets (widgets) were imported but not declared."""
    groups = declared()
    everything = set().union(*groups.values())
    distributions = packages_distributions()
    missing = {}
    for module in sorted(third_party_imports(PACKAGE)):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & everything:
            missing[module] = sorted(names)
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"
    assert {"pydantic", "traitlets"} <= everything


def test_make_installs_every_extra_and_the_groups_the_tests_need() -> None:
    """`make test` installs every extra (pandas once was not) and every dependency group."""
    extras = set(declared()) - {""}
    assert "pandas" in extras
    makefile = (ROOT / "Makefile").read_text()
    named = re.search(r"^EXTRAS := (\S+)$", makefile, re.MULTILINE)
    assert named is not None and set(named.group(1).split(",")) == extras  # one source of truth
    assert "'.[$(EXTRAS)]' --group test" in makefile and "'.[$(EXTRAS)]' --group dev" in makefile
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    included = {entry["include-group"] for entry in groups["dev"] if isinstance(entry, dict)}
    assert included == set(groups) - {"dev", "lint", "mutation"}  # test includes lint


def test_the_licence_the_metadata_names_is_shipped() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert "kitta-notebook contributors" in licence
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    sdist = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert "LICENSE" in sdist["targets"]["sdist"]["include"]


def test_the_sandbox_command_without_the_extra_says_how_to_install_it() -> None:
    """On a bare install (the extra's modules cannot be imported) one line, no traceback."""
    done = run_python(
        """
        import runpy, sys
        for name in ("fastapi", "uvicorn", "imageio_ffmpeg", "starlette", "pydantic"):
            sys.modules[name] = None  # as if not installed
        sys.argv = ["kitta_notebook.sandbox", "--port", "0"]
        runpy.run_module("kitta_notebook.sandbox", run_name="__main__", alter_sys=True)
        """
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr
    assert "pip install 'kitta-notebook[sandbox]'" in lines[0]
    assert "Traceback" not in done.stderr


def test_help_starts_with_an_example() -> None:
    import pydoc

    text = pydoc.render_doc(kitta_notebook, renderer=pydoc.plaintext)
    description = text.split("DESCRIPTION", 1)[1]
    assert description.lstrip().startswith(">>> from kitta_notebook import connect")
    assert "client.lip_sync.create(" in description.split("PACKAGE CONTENTS")[0]


def test_a_closed_client_leaves_no_connection_or_database_open() -> None:
    """`-W default` at exit: no "unclosed database" (3.13) or "unclosed socket" warning."""
    done = run_python(
        """
        import gc
        from kitta_notebook.sandbox import Sandbox
        with Sandbox(time_scale=0.05) as sandbox:
            client = sandbox.client()
            media = sandbox.samples
            task = client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
            client.lip_sync.wait(task, timeout=120, poll_interval=0.05)
            client.lip_sync.list(limit=2)
            client.close()
            gc.collect()
            print("closed", flush=True)
        """,
        "-W",
        "default",
    )
    assert done.returncode == 0, done.stderr
    assert "closed" in done.stdout
    assert "ResourceWarning" not in done.stderr, done.stderr
