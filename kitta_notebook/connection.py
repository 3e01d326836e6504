"""`connect()`: the real service when a token is configured, else the sandbox.

Notebooks call `connect()` so the same cells run on a fresh machine (against
the embedded sandbox, no account, no internet) and, unchanged, against the
real service once `KITTA_API_TOKEN` is set.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import TYPE_CHECKING, Any

from ._client import KittaClient
from ._core import BASE_URL_ENV, TOKEN_ENV, kitta_home, token_from_colab_secrets
from ._kept import prefer_keeping_results
from .errors import KittaError, NotFoundError, ValidationError
from .server_info import Sample, listed_samples

if TYPE_CHECKING:
    from .history import ResumedTasks
    from .sandbox import Sandbox

SANDBOX_JOURNAL_IDENTITY = "sandbox:embedded"
"""The journal's name for the embedded sandbox: one journal however many runs and ports."""

_lock = threading.Lock()
_sandbox: Sandbox | None = None

SANDBOX_NOTICE = (
    "Using the local Kitta SANDBOX at {url}: no account, no credits spent, and its "
    "result videos are NOT lip-synced (they only prove the workflow). "
    "Set KITTA_API_TOKEN to use the real service."
)
SANDBOX_NOTICE_ZH = (
    "正在使用本地沙盒：不消耗积分，结果视频不是真实的口型同步。"
    "设置 KITTA_API_TOKEN 即可连接正式服务。"
)


def shared_sandbox() -> Sandbox:
    """The one embedded sandbox of this process, started on first use.

    It keeps its tasks, results and uploaded media in ``KITTA_HOME/sandbox``, so
    a kernel restart finds them again; several kernels share that folder, each
    with its own server (see the sandbox README, "Persistence").
    """
    global _sandbox
    with _lock:
        if _sandbox is None or not _sandbox.running:
            import sqlite3

            from .sandbox import Sandbox, SandboxConfigError

            folder = kitta_home() / "sandbox"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                sandbox = Sandbox(data_dir=folder)
                sandbox.start()
            except SandboxConfigError as exc:
                raise ValidationError([(exc.setting, str(exc))]) from None
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise KittaError(
                    f"The embedded sandbox cannot keep its files in {folder} ({reason}). "
                    "Set KITTA_HOME to a writable folder."
                ) from None
            except sqlite3.Error as exc:
                raise KittaError(
                    f"The embedded sandbox's database in {folder} cannot be used ({exc}). "
                    "Move that folder aside (a new one is made) or set KITTA_HOME elsewhere."
                ) from None
            _sandbox = sandbox
        return _sandbox


def connect(
    token: str | None = None,
    *,
    base_url: str | None = None,
    sandbox: bool | None = None,
    quiet: bool = False,
    **client_options: Any,
) -> KittaClient:
    """A ready `KittaClient`.

    With a token (argument or `KITTA_API_TOKEN`) or an explicit base URL
    (argument or `KITTA_BASE_URL`) it talks to that service. Otherwise, or
    with `sandbox=True`, it starts the embedded sandbox once per process and
    says so, since the sandbox's results are not real lip sync.
    """
    # Colab keeps the token in its Secrets; without one there, the sandbox it is.
    token = token or os.environ.get(TOKEN_ENV) or token_from_colab_secrets(missing_ok=True)
    configured = token or base_url or os.environ.get(BASE_URL_ENV)
    if sandbox is False or (sandbox is None and configured):
        return KittaClient(token, base_url=base_url, **client_options)
    sb = shared_sandbox()
    if not quiet:
        _announce(SANDBOX_NOTICE.format(url=sb.base_url))
    client = sb.client(**client_options)
    prefer_keeping_results(client)  # the sandbox's results are kept unless the user says not
    if client._config.journal_identity is None:
        client._config.journal_identity = SANDBOX_JOURNAL_IDENTITY
    return client


def resume(
    client: KittaClient | None = None,
    *,
    watch: bool = True,
    reconcile: bool = True,
    lang: str = "en",
    poll_interval: float | None = None,
    timeout: float | None = None,
) -> ResumedTasks:
    """After a kernel restart: the tasks that had not finished, fetched again and watched.

    Unknown-outcome creates are reconciled against the server's list first;
    then every journalled task that had not finished is fetched again and,
    with `watch=True`, shown with a live view (`task.watch()`). Returns the
    tasks; `.unresolved` lists creates whose outcome is still unknown.
    Without `client`, `connect()` is used (configure `KITTA_API_TOKEN` /
    `KITTA_BASE_URL` so it reaches the same service and account as before;
    the embedded sandbox is found again by itself).
    """
    from .history.history import ResumedTasks, journal_of

    client = client if client is not None else connect(quiet=True)
    journal = journal_of(client)
    result = ResumedTasks()
    if reconcile and journal.unresolved():
        try:
            result.reconcile_report = client.history.reconcile()
        except KittaError as exc:
            warnings.warn(f"resume(): could not reconcile with the server: {exc}", stacklevel=2)
    result.unresolved = journal.unresolved()
    for entry in journal.active():
        assert entry.task_id is not None
        try:
            task = client.lip_sync.get(entry.task_id)
        except NotFoundError:
            result.missing.append(entry)
            continue
        except KittaError:
            # The server is unreachable right now: keep the last state; the view polls on.
            stale = entry.task(client)
            if stale is None:
                continue
            task = stale
        result.append(task)
    if watch:
        for task in result:
            result.watchers.append(
                task.watch(lang=lang, poll_interval=poll_interval, timeout=timeout)
            )
    if result.unresolved:
        warnings.warn(
            f"resume(): {len(result.unresolved)} create(s) of unknown outcome remain; "
            "see client.history.unresolved() and client.history.reconcile().",
            stacklevel=2,
        )
    return result


SAMPLE_ENV = {
    "video": "KITTA_SAMPLE_VIDEO_URL",
    "audio": "KITTA_SAMPLE_AUDIO_URL",
    "image": "KITTA_SAMPLE_IMAGE_URL",
    "reference_image": "KITTA_SAMPLE_REFERENCE_IMAGE_URL",
}


def sample_media(client: KittaClient | None = None) -> dict[str, str]:
    """URLs of sample media to try a workflow with.

    Against a sandbox: its own samples. Against the real service there are
    none (it fetches media from the public internet), so the URLs come from
    `KITTA_SAMPLE_VIDEO_URL`, `KITTA_SAMPLE_AUDIO_URL`, `KITTA_SAMPLE_IMAGE_URL`
    and `KITTA_SAMPLE_REFERENCE_IMAGE_URL`.
    """
    if client is None:
        client = connect(quiet=True)
    local = in_process_samples(client.base_url)
    if local:
        return {key: sample.url for key, sample in local.items()}
    from_env = {key: os.environ[name] for key, name in SAMPLE_ENV.items() if os.environ.get(name)}
    if "audio" in from_env and ("video" in from_env or "image" in from_env):
        return from_env
    if not client.is_official:
        info = client.server_info()
        if info.samples:
            return info.sample_urls()
    raise KittaError(
        "No sample media for this service. Set KITTA_SAMPLE_VIDEO_URL and "
        "KITTA_SAMPLE_AUDIO_URL (and KITTA_SAMPLE_IMAGE_URL for image mode) to public "
        "URLs of your own media, or use connect() without a token for the sandbox."
    )


def in_process_samples(base_url: str, sandbox: Sandbox | None = None) -> dict[str, Sample]:
    """Samples of a sandbox running in this process at `base_url`, without a request.

    `sandbox` is a `Sandbox` the caller holds; otherwise the one `connect()`
    started is used when its base URL matches.
    """
    for candidate in (sandbox, _sandbox):
        if candidate is None or not candidate.running:
            continue
        if candidate.base_url.rstrip("/") != base_url.rstrip("/"):
            continue
        from .sandbox.openapi import samples_document

        return listed_samples(samples_document(candidate.origin))
    return {}


def _announce(message: str) -> None:
    from .batch.progress import in_kernel

    if in_kernel():
        from IPython.display import HTML, display

        from .display.html import notice_html

        display(HTML(notice_html(message, SANDBOX_NOTICE_ZH)))
    else:
        print(message)
