"""The clients' own surface: their settings, token, twins, cached server facts, closing.

Gaps found by mutation testing (`make mutate`) in `_client.py`; each test names the
behaviour it protects. Against the real sandbox over HTTP, and a media host on
127.0.0.1 for `fetch_bytes`.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import (
    AsyncKittaClient,
    DownloadError,
    KittaClient,
    LipSyncTask,
    ValidationError,
)
from kitta_notebook._core import ClientConfig, Secret
from kitta_notebook.sandbox import Sandbox
from tests.support import dto, media_host


class Closable:
    """Stands for the prober and the media store a client opens on first use."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_set_token_keeps_the_token_stripped_and_refuses_an_empty_one() -> None:
    client = KittaClient(base_url="http://127.0.0.1:9/api", journal=False)
    client._config.token = None
    assert not client.has_token and "token=missing" in repr(client)
    client.set_token("  tok-entered \n")
    assert client.has_token and client._config.token is not None
    assert client._config.token.reveal() == "tok-entered"
    assert client._config.token_source == "entered"
    for empty in ("", "   ", None):
        with pytest.raises(ValueError, match=r"^the API token is empty$"):
            client.set_token(empty)  # type: ignore[arg-type]
    assert client._config.token.reveal() == "tok-entered"  # a refused one changes nothing
    client.close()


def test_a_client_without_token_keeps_the_settings_and_nothing_of_the_operators() -> None:
    """A panel served to visitors runs on `without_token()`: it must never hold the
    operator's token, nor share the operator's prober or cached headers."""
    with KittaClient(
        "tok-operator", base_url="http://127.0.0.1:9/api", timeout=7.0, max_retries=4,
        journal=False, keep_results=False,
    ) as client:  # fmt: skip
        client._config.prober = Closable()
        visitor = client.without_token()
        assert isinstance(visitor, KittaClient) and visitor is not client
        assert not visitor.has_token and visitor._config.token is None
        assert "tok-operator" not in repr(visitor) + repr(vars(visitor._config))
        assert visitor.base_url == client.base_url == "http://127.0.0.1:9/api"
        assert visitor._config.timeout == client._config.timeout
        assert (visitor._config.max_retries, visitor._config.journal) == (4, False)
        assert visitor._config.keep_results is False
        assert visitor._config.prober is None and visitor._config._header_cache == {}
        assert visitor._config._header_cache is not client._config._header_cache
        assert client.has_token and isinstance(client._config.prober, Closable)
        twin = client.as_async().without_token()
        assert isinstance(twin, AsyncKittaClient) and not twin.has_token
        assert twin.base_url == client.base_url
        visitor.close()


def test_a_result_is_named_after_its_task_with_its_links_extension() -> None:
    with KittaClient("tok", base_url="http://127.0.0.1:9/api", journal=False) as client:
        webm = LipSyncTask(dto(taskId="lip_task_7", resultVideoUrl="https://cdn.example/r/v.webm"))
        assert client.result_file_name(webm) == "lip_task_7.webm"
        unfinished = LipSyncTask(dto(taskId="lip_task_8", resultVideoUrl=None))
        assert client.result_file_name(unfinished) == "lip_task_8.mp4"
        assert client.as_async().result_file_name(webm) == "lip_task_7.webm"


def test_a_client_names_its_server_and_whether_a_token_is_set_and_nothing_more() -> None:
    with KittaClient("tok-secret", base_url="http://127.0.0.1:9/api", journal=False) as client:
        assert repr(client) == "KittaClient(base_url='http://127.0.0.1:9/api', token=set)"
        assert repr(client.as_async()) == f"Async{client!r}"
        assert client.base_url == "http://127.0.0.1:9/api" and not client.is_official
    half_built = KittaClient.__new__(KittaClient)  # e.g. shown by a debugger mid-__init__
    assert repr(half_built) == "KittaClient(<not configured>)"


def test_each_client_has_one_twin_sharing_its_settings() -> None:
    with KittaClient("tok", base_url="http://127.0.0.1:9/api", journal=False) as client:
        twin = client.as_async()
        assert client.as_async() is twin and twin.as_sync() is client
        assert twin.as_async() is twin and client.as_sync() is client
        assert twin._config is client._config and twin.lip_sync._sync is client.lip_sync


def test_the_async_client_passes_every_setting_to_its_engine(tmp_path: Path) -> None:
    store = Closable()
    http = httpx.Client()
    client = AsyncKittaClient(
        "tok-async",
        base_url="http://127.0.0.1:9/api",
        timeout=7.0,
        max_retries=5,
        http_client=http,
        journal=False,
        keep_results=tmp_path,
        media_store=store,
    )
    config = client._config
    assert client.as_sync()._http is http and client.as_sync().as_async() is client
    assert config.base_url == "http://127.0.0.1:9/api" and config.max_retries == 5
    assert config.timeout.read == 7.0 and config.token is not None
    assert config.token.reveal() == "tok-async" and config.token_source == "argument"
    assert (config.journal, config.keep_results, config.media_store) == (False, tmp_path, store)
    assert client.journal is None
    asyncio.run(client.aclose())
    assert http.is_closed and store.closed == 1


def test_close_closes_the_pool_the_prober_the_media_store_and_the_journal(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from kitta_notebook.history.journal import Journal

    prober, store = Closable(), Closable()
    journal = Journal(tmp_path / "journal.db")
    closed: list[bool] = []
    journal.close = lambda: closed.append(True)  # type: ignore[method-assign]
    client = sandbox.client(journal=journal, media_store=store)
    client._config.prober = prober
    client.close()
    assert client._http.is_closed and (prober.closed, store.closed) == (1, 1) and closed


def test_the_servers_facts_are_fetched_once_until_refreshed(sandbox: Sandbox) -> None:
    with sandbox.client(journal=False) as client:
        first = client.server_info()
        assert client.server_info() is first and sandbox.stats.by_method == {"GET": 1}
        again = client.server_info(refresh=True)
        assert again is not first and sandbox.stats.by_method == {"GET": 2}
        assert "kitta-lip-sync-v1" in again.models and again.problem is None


def test_unreachable_server_facts_say_why_and_keep_the_default_model() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    base = "http://api.test/api"
    with KittaClient("tok", base_url=base, http_client=http, journal=False, max_retries=0) as c:
        info = c.server_info()
    assert info.problem == "ServerError" and "kitta-lip-sync-v1" in info.models


def test_fetch_bytes_gives_the_bytes_none_when_too_large_and_raises_otherwise() -> None:
    body = b"\x00\x00\x00\x18ftypmp42" + bytes(200)
    with KittaClient("tok", journal=False) as client, media_host(body) as host:
        assert client.fetch_bytes(f"{host}/clip.mp4", max_bytes=len(body)) == body
        assert client.fetch_bytes(f"{host}/clip.mp4", max_bytes=len(body) - 1) is None
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200)  # any medium, not only a video
    with KittaClient("tok", journal=False) as client, media_host(wav, "audio/wav") as host:
        assert client.fetch_bytes(f"{host}/speech.wav", max_bytes=len(wav)) == wav
    with KittaClient("tok", journal=False) as client, pytest.raises(DownloadError):
        client.fetch_bytes("http://127.0.0.1:9/gone.mp4", max_bytes=100, timeout=5)


def test_a_key_of_the_longest_allowed_length_is_taken(sandbox: Sandbox, tmp_path: Path) -> None:
    from kitta_notebook._core import MAX_KEY_LENGTH
    from kitta_notebook.errors import ValidationError
    from kitta_notebook.history.journal import Journal

    media: dict[str, Any] = {
        "audio_url": sandbox.samples["audio"],
        "video_url": sandbox.samples["video"],
        "preflight": False,
    }
    with sandbox.client(journal=Journal(tmp_path / "journal.db")) as client:
        task = client.lip_sync.create(key="k" * MAX_KEY_LENGTH, **media)
        assert client.lip_sync.create(key="k" * MAX_KEY_LENGTH, **media).task_id == task.task_id
        with pytest.raises(ValidationError, match="at most 200"):
            client.lip_sync.create(key="k" * (MAX_KEY_LENGTH + 1), **media)
    assert sandbox.stats.creates_accepted == 1


def test_both_clients_history_reads_their_own_journal(tmp_path: Path) -> None:
    from kitta_notebook.history import AsyncHistory, History
    from kitta_notebook.history.journal import Journal

    journal = Journal(tmp_path / "journal.db")
    with KittaClient("tok", base_url="http://127.0.0.1:9/api", journal=journal) as client:
        assert client.journal is journal and client.as_async().journal is journal
        assert isinstance(client.history, History) and client.history.journal is journal
        twin = client.as_async().history
        assert isinstance(twin, AsyncHistory) and twin.journal is journal


def test_an_async_with_block_closes_the_client() -> None:
    http = httpx.Client()

    async def run() -> AsyncKittaClient:
        async with AsyncKittaClient("tok", http_client=http, journal=False) as client:
            assert not http.is_closed
        return client

    client = asyncio.run(run())
    assert http.is_closed and client.as_sync()._http is http


def test_the_documented_defaults_of_both_clients() -> None:
    """Two retries of a safe request (docs and README), a minute for a media fetch."""
    import inspect

    assert KittaClient("tok", journal=False)._config.max_retries == 2
    assert AsyncKittaClient("tok", journal=False)._config.max_retries == 2
    assert inspect.signature(KittaClient.fetch_bytes).parameters["timeout"].default == 60.0


def test_an_async_client_made_on_a_configuration_uses_it() -> None:
    from kitta_notebook._core import ClientConfig

    config = ClientConfig.create("tok-config", "http://127.0.0.1:9/api", None, 1)
    client = AsyncKittaClient(_config=config, journal=False)
    assert client._config is config and client.as_sync()._config is config


def test_usage_is_the_accounts_balance_as_the_server_sends_it(sandbox: Sandbox) -> None:
    sandbox.add_account("tok-client-surface-usage", 4321)
    with sandbox.client("tok-client-surface-usage", journal=False) as client:
        usage = client.usage()
    assert 4321 in usage.values() and sandbox.stats.route("usage") == 1


def test_download_passes_on_its_path_overwrite_and_timeout(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with sandbox.client(journal=False, keep_results=False) as client:
        task = client.lip_sync.create(
            video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
        )
        client.lip_sync.wait(task, timeout=60, poll_interval=0.05)
        saved = client.download(task, tmp_path)
        assert saved == tmp_path / f"{task.task_id}.mp4" and saved.stat().st_size > 1000
        mine = tmp_path / "mine.mp4"
        mine.write_bytes(b"my own file")
        with pytest.raises(DownloadError, match="exists already; pass overwrite=True"):
            client.download(task.task_id, mine, overwrite=False)
        assert mine.read_bytes() == b"my own file"
        assert client.download(task.task_id, mine, overwrite=True) == mine
        assert mine.read_bytes() == saved.read_bytes()
        with pytest.raises(DownloadError):
            client.download(task, tmp_path / "late.mp4", timeout=1e-6)
    assert not (tmp_path / "late.mp4").exists()


@pytest.mark.parametrize("key", ["clip\x00one", "clip\ud800"])
def test_a_key_no_journal_can_keep_is_refused_naming_the_key(sandbox: Sandbox, key: str) -> None:
    """A NUL or a lone surrogate (no journal store keeps them) is refused before anything
    is published or sent, and the message says it is the key."""
    from kitta_notebook.errors import ValidationError

    with sandbox.client(journal=False) as client, pytest.raises(ValidationError) as caught:
        client.lip_sync.create(
            audio_url=sandbox.samples["audio"], video_url=sandbox.samples["video"], key=key
        )
    assert list(caught.value.fields) == ["key"] and caught.value.fields["key"].startswith("The key")
    assert sandbox.stats.total == 0


def test_a_key_without_the_journal_says_why_in_a_sentence(sandbox: Sandbox) -> None:
    from kitta_notebook.errors import ValidationError

    with sandbox.client(journal=False) as client, pytest.raises(ValidationError) as caught:
        client.lip_sync.create(
            audio_url=sandbox.samples["audio"], video_url=sandbox.samples["video"], key="k"
        )
    assert caught.value.fields["key"] == (
        "A key needs the local journal, which this client has turned off."
    )


def test_the_token_refuses_to_be_pickled_or_copied_saying_why() -> None:
    """A pickled client would put the token on disk (a checkpoint, a cached cell)."""
    secret = Secret("tok-never-on-disk")
    for attempt in (pickle.dumps, copy.deepcopy, copy.copy):
        with pytest.raises(TypeError, match=r"^the API token cannot be pickled$"):
            attempt(secret)


class Bound:
    """A random source that always picks one end of the range asked for."""

    def __init__(self, end: int) -> None:
        self.end = end

    def uniform(self, low: float, high: float) -> float:
        return (low, high)[self.end]


def test_retries_back_off_doubling_from_half_a_second_to_eight_with_jitter() -> None:
    config = ClientConfig("http://127.0.0.1:9/api", None, httpx.Timeout(5.0), 3)
    config.rng = Bound(1)  # type: ignore[assignment]
    assert [config.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    config.rng = Bound(0)  # type: ignore[assignment]
    assert [config.backoff(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]


def test_the_toolkits_folder_is_kitta_home_when_set_else_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    from kitta_notebook._core import HOME_ENV, kitta_home

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(HOME_ENV, "  ~/kitta files  ")
    assert kitta_home() == tmp_path / "kitta files"
    for unset in ("", "   "):
        monkeypatch.setenv(HOME_ENV, unset)
        expected = platformdirs.user_data_dir("kitta-notebook", appauthor=False)
        assert kitta_home() == Path(expected)
        assert Path(expected).name == "kitta-notebook"
        assert "kitta-notebook" not in Path(expected).parent.parts  # no author folder
    monkeypatch.delenv(HOME_ENV)
    assert kitta_home() == Path(platformdirs.user_data_dir("kitta-notebook", appauthor=False))


@pytest.mark.parametrize("retries", [-1, True, False, 2.0, "3", None])
def test_max_retries_must_be_a_whole_number_not_below_zero(retries: Any) -> None:
    with pytest.raises(ValidationError, match="max_retries: must be a whole number ≥ 0"):
        KittaClient(token="t0ken-value", base_url="http://127.0.0.1:9", max_retries=retries)
    with KittaClient(token="t0ken-value", base_url="http://127.0.0.1:9", max_retries=0) as client:
        assert client._config.max_retries == 0


def test_the_user_data_folder_has_no_author_folder_on_windows_either(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """platformdirs nests the folder in an author folder on Windows unless told not to
    (on Linux and macOS it never does), so the call itself is checked here."""
    import platformdirs

    from kitta_notebook._core import HOME_ENV, kitta_home

    asked: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def user_data_dir(*args: object, **kwargs: object) -> str:
        asked.append((args, kwargs))
        return "/data/kitta-notebook"

    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", user_data_dir)
    assert kitta_home() == Path("/data/kitta-notebook")
    assert asked == [(("kitta-notebook",), {"appauthor": False})]


def test_a_timeout_in_seconds_bounds_each_read_and_connects_within_five_seconds() -> None:
    """A number is the read/write/pool timeout; a connection gets at most 5 s of it (an
    unreachable host is named quickly), never more than the whole timeout."""
    for seconds, connect in ((30, 5.0), (2.5, 2.5), (5, 5.0)):
        with KittaClient(token="t0ken-value", base_url="http://127.0.0.1:9", timeout=seconds) as c:
            assert c._config.timeout == httpx.Timeout(float(seconds), connect=connect)
    given = httpx.Timeout(7.0, connect=1.0)
    with KittaClient(token="t0ken-value", base_url="http://127.0.0.1:9", timeout=given) as c:
        assert c._config.timeout is given


def test_a_base_url_is_kept_without_its_trailing_slashes() -> None:
    with KittaClient(token="t0ken-value", base_url="http://127.0.0.1:9/api//") as client:
        assert client._config.base_url == "http://127.0.0.1:9/api"
    with KittaClient(token="t0ken-value", base_url="http://127.0.0.1:9/gatewayX/") as client:
        assert client._config.base_url == "http://127.0.0.1:9/gatewayX"  # only slashes go
