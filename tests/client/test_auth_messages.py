"""401 and 403 against the sandbox: the message names the token the user actually gave,
and says each thing once."""

from __future__ import annotations

import pytest

from kitta_notebook import AuthenticationError, KittaClient, PermissionDeniedError
from kitta_notebook.i18n import LANGS, text
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets._messages import describe_error

WRONG = "not-a-token-of-this-sandbox"


def refused(client: KittaClient) -> AuthenticationError:
    with client, pytest.raises(AuthenticationError) as caught:
        client.lip_sync.list(limit=1)
    return caught.value


def test_a_401_names_the_token_passed_as_token(sandbox: Sandbox) -> None:
    err = refused(KittaClient(token=WRONG, base_url=sandbox.base_url))
    assert err.token_source == "argument"
    assert "check the token passed as token=" in str(err)
    assert "KITTA_API_TOKEN" not in str(err)
    for lang in LANGS:
        assert describe_error(err, lang) == text("err_401_argument", lang)
    assert "token=" in describe_error(err, "en") and "token=" in describe_error(err, "zh")


def test_a_401_names_the_environment_variable_when_the_token_came_from_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITTA_API_TOKEN", WRONG)
    err = refused(KittaClient(base_url=sandbox.base_url))
    assert err.token_source == "environment"
    assert "check KITTA_API_TOKEN" in str(err) and "token=" not in str(err)
    assert describe_error(err, "en") == text("err_401", "en")


def test_a_401_after_set_token_names_the_entered_token(sandbox: Sandbox) -> None:
    client = KittaClient(token="sandbox-token", base_url=sandbox.base_url)
    client.set_token(WRONG)  # what the panel's token field does
    err = refused(client)
    assert err.token_source == "entered"
    assert "KITTA_API_TOKEN" not in str(err) and "token=" not in str(err)
    assert describe_error(err, "en") == text("err_401_entered", "en")


def test_a_403_says_what_to_do_without_repeating_the_server(sandbox: Sandbox) -> None:
    sandbox.add_account("tok-no-pro", 1_000_000)
    media = sandbox.samples
    with sandbox.client("tok-no-pro") as client, pytest.raises(PermissionDeniedError) as caught:
        client.lip_sync.create(
            video_url=media["video"], audio_url=media["audio"], model="kitta-lip-sync-pro"
        )
    message = str(caught.value)
    assert "may not use model kitta-lip-sync-pro" in message  # the server's own words
    assert message.count("may not use") == 1, message
    assert message.lower().count("this account") == 1, message


def test_the_async_client_names_the_token_passed_as_token(sandbox: Sandbox) -> None:
    import asyncio

    from kitta_notebook import AsyncKittaClient

    async def body() -> AuthenticationError:
        async with AsyncKittaClient(token=WRONG, base_url=sandbox.base_url) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.lip_sync.list(limit=1)
        return caught.value

    err = asyncio.run(body())
    assert err.token_source == "argument" and "check the token passed as token=" in str(err)
