"""The public surface: what `__all__` promises exists, and nothing slips in unnoticed.

Adding or removing a public name is a decision: this test makes it one, as
httpx guards its own `__all__`.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import kitta_notebook
from kitta_notebook import errors

EXPECTED_TOP_LEVEL = {
    # clients and resources
    "AsyncKittaClient",
    "AsyncLipSync",
    "KittaClient",
    "LipSync",
    "connect",
    "sample_media",
    "resume",
    # data
    "LipSyncTask",
    "Page",
    "TaskStatus",
    "BatchItem",
    "BatchResult",
    "TaskList",
    # views and widgets
    "Compare",
    "Gallery",
    "HistoryBrowser",
    "LipSyncPanel",
    "__version__",
}

SUBPACKAGES = ["history", "batch", "media", "display", "widgets", "sandbox"]


def exception_names() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }


def test_the_top_level_exports_exactly_the_documented_names() -> None:
    assert set(kitta_notebook.__all__) == EXPECTED_TOP_LEVEL | exception_names()
    assert len(kitta_notebook.__all__) == len(set(kitta_notebook.__all__))
    assert list(kitta_notebook.__all__) == sorted(kitta_notebook.__all__)


def test_every_exception_lives_in_errors_and_is_a_kitta_error() -> None:
    """One module holds every exception a user can meet; all share the KittaError base.

    Elsewhere only internal signals may be defined: caught inside their own
    subpackage, never in an `__all__` (so never part of the public surface).
    """
    for name in exception_names():
        cls = getattr(errors, name)
        if issubclass(cls, Warning):
            continue
        assert issubclass(cls, errors.KittaError), name
    importlib.import_module("kitta_notebook.widgets")  # load what the package loads lazily
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("kitta_notebook.") or module_name.startswith(
            "kitta_notebook.sandbox"
        ):
            continue
        public = set(getattr(module, "__all__", ()))
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException):
                if value.__module__ == errors.__name__:
                    continue
                assert value.__module__ == module_name or name not in public, name
                assert name not in public, f"{module_name}.{name} is public: move it to errors"


@pytest.mark.parametrize("name", sorted(EXPECTED_TOP_LEVEL | exception_names()))
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(kitta_notebook, name) is not None


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_subpackages_declare_what_they_export(package: str) -> None:
    module = importlib.import_module(f"kitta_notebook.{package}")
    exported = getattr(module, "__all__", None)
    assert exported, f"kitta_notebook.{package} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"kitta_notebook.{package}.{name}"
    assert not [name for name in exported if name.startswith("_")]


# What `import kitta_notebook` must not load: each costs milliseconds at import and
# loads on first use instead (an await, a batch, a view, the journal, a write, the sandbox).
LAZY_MODULES = (
    "asyncio",
    "concurrent.futures",
    "sqlite3",
    "IPython",
    "ipywidgets",
    "anywidget",
    "pydantic",
    "fastapi",
    "uvicorn",
    "filetype",
    "decimal",
    "kitta_notebook.batch",
    "kitta_notebook.history",
    "kitta_notebook.media",
    "kitta_notebook.display",
    "kitta_notebook.widgets",
    "kitta_notebook.sandbox",
)


def test_importing_the_package_loads_only_the_client_core() -> None:
    """`import kitta_notebook` stays light: the modules above load on first use.

    Only what the package adds to `import httpx` counts (httpx may load some itself).
    """
    code = (
        "import sys, httpx\n"
        "before = set(sys.modules)\n"
        "import kitta_notebook\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    added = result.stdout.split()
    assert "kitta_notebook._client" in added  # the probe saw the package load
    loaded = [m for m in added if any(m == n or m.startswith(f"{n}.") for n in LAZY_MODULES)]
    assert loaded == []


def test_the_s3_store_loads_only_when_one_is_used() -> None:
    """Publishing to the sandbox's store never loads `media.s3_store`; naming a bucket does."""
    code = (
        "import sys\n"
        "from kitta_notebook import media\n"
        "media.resolve_store(sandbox_url='http://127.0.0.1:9', environ={})\n"
        "print('kitta_notebook.media.s3_store' in sys.modules)\n"
        "media.resolve_store(environ={'KITTA_MEDIA_STORE': 's3://bucket/in'})\n"
        "print('kitta_notebook.media.s3_store' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["False", "True"]
