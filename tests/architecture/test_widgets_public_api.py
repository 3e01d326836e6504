"""The widgets are views over the client's public API: no private client attribute, no
private module of the core.

Read from the source (an AST walk), so a private reach is caught even on a code path
no other test runs. What a widget needs of the core is public, documented API (e.g.
`client.without_token()`, `client.media_store`, `client.result_file_name(task)`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kitta_notebook
from kitta_notebook import AsyncKittaClient, AsyncLipSync, KittaClient, LipSync, LipSyncTask
from kitta_notebook._kept import download_target
from kitta_notebook.media import S3Store

WIDGETS = Path(kitta_notebook.__file__).parent / "widgets"


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
    wrong = [f"{path.name}:{line}: {name}" for name, line in reaches(path, private)]
    assert not wrong, "widgets must use the client's public API:\n" + "\n".join(wrong)


def test_a_task_names_its_client_publicly() -> None:
    """What the card needs of a task, public: the client it came from."""
    client = KittaClient(token="tok", base_url="http://127.0.0.1:9", journal=False)
    raw = {"taskId": "a/b", "status": "succeeded", "resultVideoUrl": "https://h.example/x.webm"}
    task = LipSyncTask(raw, client=client)
    assert task.client is client and task.client.as_async() is client.as_async()
    with pytest.raises(RuntimeError, match="not bound to a client"):
        _ = LipSyncTask({"taskId": "t", "status": "pending"}).client
    client.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_client_copies_itself_without_its_token(flavour: str) -> None:
    """What a panel served to visitors needs: the operator's settings, never their token."""
    store = S3Store("team-media")
    client = KittaClient(
        token="operator-secret", base_url="http://127.0.0.1:9", journal=False, media_store=store
    )
    face = client if flavour == "sync" else client.as_async()
    copy = face.without_token()
    assert type(copy) is type(face) and copy is not face
    assert not copy.has_token and face.has_token
    assert (copy.base_url, copy.is_official, copy.media_store) == (face.base_url, False, store)
    shown = repr(copy) + repr(copy.as_sync()._config) + repr(vars(copy.as_sync()))
    assert "operator-secret" not in shown
    copy.set_token("visitor-token")  # the visitor's own, on the copy alone
    assert copy.has_token and "visitor-token" not in repr(copy)
    assert client._config.token is not None
    assert client._config.token.reveal() == "operator-secret"
    copy.as_sync().close()
    client.close()


def test_the_result_file_name_is_the_one_download_writes(tmp_path: Path) -> None:
    """What the card's browser download is named: the name `download()` gives the file."""
    client = KittaClient(token="tok", base_url="http://127.0.0.1:9", journal=False)
    raw = {"taskId": "a/b", "status": "succeeded", "resultVideoUrl": "https://h.example/x.webm"}
    task = LipSyncTask(raw, client=client)
    name = client.result_file_name(task)
    assert name.endswith(".webm") and "/" not in name and name.startswith("a_b")
    assert name == download_target(task, tmp_path)[1].name
    assert client.as_async().result_file_name(task) == name
    assert KittaClient(token="t", base_url="http://127.0.0.1:9", journal=False).media_store is None
    client.close()
