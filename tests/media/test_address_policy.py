"""For the real service, a media URL on a private, link-local or loopback address is
refused before anything is sent: the service fetches from the public internet, and this
machine must not be led into its own network (IPv6 and IPv4-mapped forms included)."""

from __future__ import annotations

import pytest

from kitta_notebook.errors import ValidationError
from kitta_notebook.validation import check_url, is_public_host, validate_create

PRIVATE_V6 = ["fd00::1", "[fe80::1]", "::ffff:10.0.0.1", "[::ffff:169.254.169.254]", "fc00::7"]


@pytest.mark.parametrize("host", PRIVATE_V6)
def test_private_ipv6_hosts_are_not_public(host: str) -> None:
    assert is_public_host(host) is False


@pytest.mark.parametrize("host", PRIVATE_V6)
def test_the_real_service_refuses_a_private_ipv6_url(host: str) -> None:
    bracketed = host if host.startswith("[") else f"[{host}]"
    url = f"http://{bracketed}/speech.mp3"
    _, problem = check_url(url, require_public=True)
    assert problem is not None and "cannot reach" in problem
    with pytest.raises(ValidationError) as caught:
        validate_create(audio_url=url, video_url=url, require_public_urls=True)
    assert set(caught.value.fields) == {"audio_url", "video_url"}


@pytest.mark.parametrize("host", ["2001:4860:4860::8888", "[2606:4700::1111]", "::ffff:8.8.8.8"])
def test_public_ipv6_hosts_are_public(host: str) -> None:
    assert is_public_host(host) is True


def test_the_sandbox_accepts_loopback() -> None:
    assert check_url("http://[::1]:8000/speech.mp3", require_public=False)[1] is None
