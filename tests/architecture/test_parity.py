"""The async layers expose the sync engine's methods with the same parameters.

A method that exists on one side only, or takes other arguments, is the
kind of drift a user meets first when moving a notebook from cells to
`await`. Return types differ by design (a coroutine), so only parameters
are compared.
"""

from __future__ import annotations

import inspect

import pytest

from kitta_notebook import AsyncKittaClient, AsyncLipSync, KittaClient, LipSync
from kitta_notebook.history import AsyncHistory, History

# Names that differ by nature: the context-manager and close protocols.
LIFECYCLE = {"close", "aclose"}


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    found: dict[str, inspect.Signature] = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or name in LIFECYCLE:
            continue
        if inspect.isfunction(member):
            found[name] = inspect.signature(member)
    return found


def parameters(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [
        (p.name, p.kind, p.default if p.default is inspect.Parameter.empty else repr(p.default))
        for p in signature.parameters.values()
    ]


@pytest.mark.parametrize(
    ("sync_cls", "async_cls"),
    [(KittaClient, AsyncKittaClient), (LipSync, AsyncLipSync), (History, AsyncHistory)],
    ids=["client", "lip_sync", "history"],
)
def test_twins_have_the_same_methods_and_parameters(sync_cls: type, async_cls: type) -> None:
    sync_methods = public_methods(sync_cls)
    async_methods = public_methods(async_cls)
    assert sorted(sync_methods) == sorted(async_methods)
    for name, signature in sync_methods.items():
        assert parameters(signature) == parameters(async_methods[name]), name


@pytest.mark.parametrize(
    "async_cls", [AsyncKittaClient, AsyncLipSync, AsyncHistory], ids=lambda c: c.__name__
)
def test_async_twins_do_their_io_in_coroutines(async_cls: type) -> None:
    """Every method of an async twin that talks to a server or a file is awaitable."""
    # Return live views / async iterators at once, or do no I/O at all.
    sync_only = {"watch", "watch_many", "set_token", "as_sync", "as_async", "without_token"}
    for name, member in inspect.getmembers(async_cls, inspect.isfunction):
        if name.startswith("_") or name in LIFECYCLE or name in sync_only:
            continue
        if not member.__qualname__.startswith(async_cls.__name__ + "."):
            continue  # shared with the sync twin, and does no I/O (e.g. set_token)
        returns = inspect.signature(member).return_annotation
        is_generator = "AsyncIterator" in str(returns) or inspect.isasyncgenfunction(member)
        assert inspect.iscoroutinefunction(member) or is_generator, name


def test_client_constructors_take_the_same_options() -> None:
    sync_init = parameters(inspect.signature(KittaClient.__init__))
    async_init = parameters(inspect.signature(AsyncKittaClient.__init__))
    # Both take an `httpx.Client` (the engine is sync); private parameters may differ.
    assert [p for p in sync_init if not p[0].startswith("_")] == [
        p for p in async_init if not p[0].startswith("_")
    ]
