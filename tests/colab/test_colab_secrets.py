"""The token from Colab's Secrets, tested against a stand-in of Colab's module.

Colab cannot run here, so each test writes a small `google.colab` package of its
own (`google/colab/userdata.py` with Colab's function and exception names, the
exceptions' hierarchy as in Colab: `NotebookAccessError` subclasses plain
`Exception`, the others Colab's own error base) into a temporary folder and puts
that folder first on `sys.path`. The token then travels over real HTTP to a real
sandbox on 127.0.0.1, which accepts only that token.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kitta_notebook import AsyncKittaClient, KittaClient, connect
from kitta_notebook._core import token_from_colab_secrets
from kitta_notebook.errors import (
    ColabSecretAccessError,
    ColabSecretError,
    ColabSecretNotFoundError,
    ColabSecretTimeoutError,
    KittaError,
    MissingTokenError,
)
from kitta_notebook.sandbox import Sandbox

TOKEN = "colab-" + secrets.token_hex(8)

USERDATA_STAND_IN = '''
"""Stand-in for google.colab.userdata (names and hierarchy as in Colab)."""
from google.colab import errors

SECRETS = {}      # name -> value stored in the sidebar
GRANTED = set()   # names this notebook may read
TIMES_OUT = False
CALLS = []


class NotebookAccessError(Exception):
    def __init__(self, key):
        super().__init__(f"Notebook does not have access to secret {key}")


class SecretNotFoundError(errors.Error):
    def __init__(self, key):
        super().__init__(f"Secret {key} does not exist.")


class TimeoutException(errors.Error):
    def __init__(self, key):
        super().__init__(f"Requesting secret {key} timed out.")


def get(key):
    CALLS.append(key)
    if not key or not key.strip():
        raise ValueError("Please enter a valid key.")
    if TIMES_OUT:
        raise TimeoutException(key)
    if key not in SECRETS:
        raise SecretNotFoundError(key)
    if key not in GRANTED:
        raise NotebookAccessError(key)
    return SECRETS[key]
'''


def _forget_google_modules() -> None:
    for name in [n for n in sys.modules if n == "google" or n.startswith("google.")]:
        del sys.modules[name]


@pytest.fixture
def colab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A stand-in `google.colab` on sys.path; yields its `userdata` module."""
    package = tmp_path / "stand-in" / "google" / "colab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Stand-in for Colab\'s package."""\n')
    (package / "errors.py").write_text("class Error(Exception):\n    pass\n")
    (package / "userdata.py").write_text(USERDATA_STAND_IN)
    _forget_google_modules()
    monkeypatch.syspath_prepend(str(tmp_path / "stand-in"))
    import google.colab.userdata as userdata  # type: ignore[import-not-found]

    yield userdata
    _forget_google_modules()


@pytest.fixture(scope="module")
def service() -> Iterator[Sandbox]:
    """A sandbox standing in for the real service: only TOKEN is accepted."""
    with Sandbox(accounts={TOKEN: 1_000_000}, time_scale=0.05) as sb:
        yield sb


def test_outside_colab_nothing_is_asked() -> None:
    assert token_from_colab_secrets() is None
    with KittaClient(base_url="http://127.0.0.1:9") as client:
        assert client._config.token is None


def test_granted_secret_reaches_the_service(colab: ModuleType, service: Sandbox) -> None:
    colab.SECRETS["KITTA_API_TOKEN"] = f"  {TOKEN}\n"
    colab.GRANTED.add("KITTA_API_TOKEN")
    with KittaClient(base_url=service.base_url) as client:
        assert client.lip_sync.list().data == []  # a wrong token would be a 401
        assert TOKEN not in repr(client)

    async def with_async_client() -> int:
        async with AsyncKittaClient(base_url=service.base_url) as client:
            page = await client.lip_sync.list()
            return len(page.data)

    assert asyncio.run(with_async_client()) == 0
    assert colab.CALLS == ["KITTA_API_TOKEN", "KITTA_API_TOKEN"]


def test_environment_and_argument_win_over_colab(
    colab: ModuleType, service: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    colab.SECRETS["KITTA_API_TOKEN"] = "from-colab"
    colab.GRANTED.add("KITTA_API_TOKEN")
    monkeypatch.setenv("KITTA_API_TOKEN", TOKEN)
    with KittaClient(base_url=service.base_url) as client:
        client.lip_sync.list()
    monkeypatch.delenv("KITTA_API_TOKEN")
    with KittaClient(TOKEN, base_url=service.base_url) as client:
        client.lip_sync.list()
    assert colab.CALLS == []


@pytest.mark.parametrize(
    ("setup", "expected", "says"),
    [
        ("not granted", ColabSecretAccessError, "not granted access"),
        ("missing", ColabSecretNotFoundError, "no secret named KITTA_API_TOKEN"),
        ("empty", ColabSecretNotFoundError, "no secret named KITTA_API_TOKEN"),
        ("times out", ColabSecretTimeoutError, "did not answer"),
    ],
)
def test_each_failure_has_its_own_sentence(
    colab: ModuleType, setup: str, expected: type[ColabSecretError], says: str
) -> None:
    if setup == "not granted":
        colab.SECRETS["KITTA_API_TOKEN"] = TOKEN
    elif setup == "empty":
        colab.SECRETS["KITTA_API_TOKEN"] = "  "
        colab.GRANTED.add("KITTA_API_TOKEN")
    elif setup == "times out":
        colab.TIMES_OUT = True
    with pytest.raises(expected) as caught:
        KittaClient(base_url="http://127.0.0.1:9")
    error = caught.value
    assert isinstance(error, MissingTokenError) and isinstance(error, KittaError)
    message = str(error)
    assert says in message
    assert "Secrets (the key icon in the left sidebar)" in message
    assert TOKEN not in message and TOKEN not in repr(error)
    # Colab's own exception is not chained: the traceback shows ours alone.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_connect_without_a_secret_falls_back_to_the_sandbox(colab: ModuleType) -> None:
    assert token_from_colab_secrets(missing_ok=True) is None
    client = connect(quiet=True)
    assert client._config.token is not None  # the sandbox's own token
    assert client.lip_sync.list().data is not None


def test_connect_uses_the_colab_secret(colab: ModuleType, service: Sandbox) -> None:
    colab.SECRETS["KITTA_API_TOKEN"] = TOKEN
    colab.GRANTED.add("KITTA_API_TOKEN")
    client = connect(base_url=None, quiet=True)
    assert client._config.token is not None
    assert client._config.token.reveal() == TOKEN


@pytest.mark.parametrize("stored", [None, "", "  \n"])
def test_a_secret_without_a_value_is_a_missing_token(colab: ModuleType, stored: object) -> None:
    """Never `Bearer None`: a secret stored empty (or read back as None) is no token."""
    colab.SECRETS["KITTA_API_TOKEN"] = stored
    colab.GRANTED.add("KITTA_API_TOKEN")
    with pytest.raises(ColabSecretNotFoundError):
        token_from_colab_secrets()
    assert token_from_colab_secrets(missing_ok=True) is None


def test_a_failure_colab_does_not_name_is_still_one_of_ours(
    colab: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(key: str) -> str:
        raise RuntimeError(f"the kernel lost its channel while reading {key}")

    monkeypatch.setattr(colab, "get", lost)
    for missing_ok in (False, True):
        with pytest.raises(ColabSecretError) as caught:
            token_from_colab_secrets(missing_ok=missing_ok)
        assert type(caught.value) is ColabSecretError
