"""The widgets are views over the client's public API: no private client attribute, no
private module of the core.

Read from the source (an AST walk), so a private reach is caught even on a code path
no other test runs. The few reaches that wait for a public replacement are listed in
`ALLOWED` with the reason, and each is marked `# private:` at its one call site.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kitta_notebook
from kitta_notebook import AsyncKittaClient, AsyncLipSync, KittaClient, LipSync, LipSyncTask

WIDGETS = Path(kitta_notebook.__file__).parent / "widgets"

# (module, private name) -> the public API it waits for.
ALLOWED = {
    ("_media_check.py", "_config"): "a public prober and price rules (media layer)",
    ("_media_check.py", "kitta_notebook._inputs"): "a public prober and price rules",
    ("_visitors.py", "_config"): "a client copy without its token (core)",
    ("card.py", "kitta_notebook._written"): "a public result file name (files layer)",
}


def private_client_names() -> set[str]:
    """The private attributes of the client objects a widget holds: clients, their
    `lip_sync` resources and tasks (class and instance attributes)."""
    client = KittaClient(token="tok", base_url="http://127.0.0.1:9", journal=False)
    objects = [
        client,
        client.as_async(),
        client.lip_sync,
        client.as_async().lip_sync,
        LipSyncTask({"taskId": "t", "status": "pending"}),
        KittaClient,
        AsyncKittaClient,
        LipSync,
        AsyncLipSync,
        LipSyncTask,
    ]
    names = {n for obj in objects for n in dir(obj) if n.startswith("_")}
    client.close()
    # IPython's display protocol (`_repr_mimebundle_`, `_ipython_display_`) is public.
    protocol = ("__", "_repr_", "_ipython_")
    return {n for n in names if not n.startswith(protocol)}


def is_private_module(module: str) -> bool:
    """A core module (outside the widgets) whose name starts with `_` anywhere in its path."""
    parts = module.split(".")
    core = parts[0] == "kitta_notebook" and parts[1:2] != ["widgets"]
    return core and any(p.startswith("_") for p in parts[1:])


def reaches(path: Path, private: set[str]) -> list[tuple[str, int]]:
    """Every private client attribute touched and private core module imported in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append((node.attr, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = "kitta_notebook" if node.level == 2 else "kitta_notebook.widgets"
            if node.level == 0:
                base = ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            found += [(m, node.lineno) for m in names if is_private_module(m)]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if is_private_module(a.name)]
    return found


@pytest.mark.parametrize("path", sorted(WIDGETS.glob("*.py")), ids=lambda p: p.name)
def test_a_widget_uses_the_public_client_api_only(path: Path) -> None:
    private = private_client_names()
    assert "_config" in private and "_request" in private  # the walk sees them
    wrong = [
        f"{path.name}:{line}: {name}"
        for name, line in reaches(path, private)
        if (path.name, name) not in ALLOWED
    ]
    assert not wrong, "widgets must use the client's public API:\n" + "\n".join(wrong)


def test_each_allowed_reach_is_still_needed_and_marked() -> None:
    """An exception that is no longer used goes from the list; a used one is marked."""
    private = private_client_names()
    for (module, name), reason in ALLOWED.items():
        path = WIDGETS / module
        assert any(found == name for found, _ in reaches(path, private)), (module, name, reason)
        assert "# private:" in path.read_text(encoding="utf-8"), module


def test_a_task_names_its_client_publicly() -> None:
    """What the card needs of a task, public: the client it came from."""
    client = KittaClient(token="tok", base_url="http://127.0.0.1:9", journal=False)
    raw = {"taskId": "a/b", "status": "succeeded", "resultVideoUrl": "https://h.example/x.webm"}
    task = LipSyncTask(raw, client=client)
    assert task.client is client and task.client.as_async() is client.as_async()
    with pytest.raises(RuntimeError, match="not bound to a client"):
        _ = LipSyncTask({"taskId": "t", "status": "pending"}).client
    client.close()
