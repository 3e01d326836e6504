"""`connect()`: the real service when a token is configured, else the sandbox.

Notebooks call `connect()` so the same cells run on a fresh machine (against
the embedded sandbox, no account, no internet) and, unchanged, against the
real service once `KITTA_API_TOKEN` is set.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from ._client import KittaClient
from ._core import BASE_URL_ENV, TOKEN_ENV

if TYPE_CHECKING:
    from .sandbox import Sandbox

SANDBOX_TIME_SCALE_ENV = "KITTA_SANDBOX_TIME_SCALE"

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
    """The one embedded sandbox of this process, started on first use."""
    global _sandbox
    with _lock:
        if _sandbox is None or not _sandbox.running:
            from .sandbox import Sandbox

            scale = float(os.environ.get(SANDBOX_TIME_SCALE_ENV, "1.0"))
            _sandbox = Sandbox(time_scale=scale)
            _sandbox.start()
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
    configured = token or os.environ.get(TOKEN_ENV) or base_url or os.environ.get(BASE_URL_ENV)
    if sandbox is False or (sandbox is None and configured):
        return KittaClient(token, base_url=base_url, **client_options)
    sb = shared_sandbox()
    if not quiet:
        _announce(SANDBOX_NOTICE.format(url=sb.base_url))
    return sb.client(**client_options)


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
    from .server_info import in_process_samples

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
    from .errors import KittaError

    raise KittaError(
        "No sample media for this service. Set KITTA_SAMPLE_VIDEO_URL and "
        "KITTA_SAMPLE_AUDIO_URL (and KITTA_SAMPLE_IMAGE_URL for image mode) to public "
        "URLs of your own media, or use connect() without a token for the sandbox."
    )


def _announce(message: str) -> None:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import HTML, display

        from .display.html import notice_html

        display(HTML(notice_html(message, SANDBOX_NOTICE_ZH)))
    else:
        print(message)
