"""What a failed fetch says arrived, and the URL it names: the words a user reads to
understand why no video came (a login page, a storage error, an image), and a URL
without credentials. Pure functions of the bytes that arrived, tested as such.

Gaps found by mutation testing (`make mutate`) of `_fetch.py`."""

from __future__ import annotations

import pytest

from kitta_notebook._fetch import _exception_text, describe_content, url_for_errors, video_kind

ISO_BOXES = [b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"]


@pytest.mark.parametrize("box", ISO_BOXES)
def test_every_iso_box_a_video_may_start_with_is_an_mp4(box: bytes) -> None:
    assert video_kind(b"\x00\x00\x00\x08" + box + bytes(8)) == "mp4"


def test_an_eight_byte_mp4_head_is_enough() -> None:
    assert video_kind(b"\x00\x00\x00\x08ftyp") == "mp4"
    assert video_kind(b"\x00\x00\x00\x08fty") is None


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x1f", "webm"),
        (b"RIFF\x00\x10\x00\x00AVI LIST", "avi"),
        (b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00", "flv"),
        (b"\x47\x40\x00\x10" + bytes(60), "mpeg-ts"),
        (b"\x47" + bytes(187) + b"\x47", "mpeg-ts"),  # the next packet's sync byte
        (b"\x47" + bytes(187) + b"\x47" + bytes(11), "mpeg-ts"),
    ],
)
def test_other_video_containers_are_recognised(head: bytes, kind: str) -> None:
    assert video_kind(head) == kind


@pytest.mark.parametrize(
    "head",
    [
        b"RIFF\x00\x10\x00\x00WAVEfmt ",  # a WAV sound, not an AVI
        b"\x47" + bytes(187) + b"\x00",  # a 0x47 byte without a second packet
        b"\x00\x00\x00\x08ftxp" + bytes(8),
        b"ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00",
        b"",
    ],
)
def test_what_only_starts_like_a_video_is_not_one(head: bytes) -> None:
    assert video_kind(head) is None


@pytest.mark.parametrize(
    ("head", "content_type", "words"),
    [
        (b"\x00\x00\x00\x18ftypmp42", "text/html", "a mp4 video"),
        (b"<!DOCTYPE html><html>", "", "an HTML page (often a login or error page)"),
        (b"\xef\xbb\xbf \t\r\n<HTML lang=en>", "", "an HTML page (often a login or error page)"),
        (b"<head><title>", "", "an HTML page (often a login or error page)"),
        (b"<body>Sign in", "application/json", "an HTML page (often a login or error page)"),
        (b"Sign in", " Text/HTML ; charset=utf-8", "an HTML page (often a login or error page)"),
        (b'{"error": "denied"}', "", "a JSON document"),
        (b"[1, 2]", "", "a JSON document"),
        (b"denied", "application/problem+json", "a JSON document"),
        (b"<?xml version='1.0'?><Error>", "", "an XML document (often a storage error)"),
        (b"<Error/>", "application/xml", "an XML document (often a storage error)"),
        (b"\x89PNG\r\n\x1a\n", "", "a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "", "a JPEG image"),
        (b"", "", "an empty body"),
        (b"", "video/mp4", "an empty body"),
        (b"hello", "text/plain; charset=utf-8", "text (text/plain)"),
        (b"\x01\x02", "Application/Octet-Stream", "data of type application/octet-stream"),
        (b"\x01\x02", "", "data of type unknown that is not a video"),
        (b"X<html>", "", "data of type unknown that is not a video"),  # only blanks skipped
    ],
)
def test_what_arrived_instead_of_a_video_is_named(
    head: bytes, content_type: str, words: str
) -> None:
    described = describe_content(head, content_type)
    assert described.startswith(words)
    if words.startswith("data of type"):
        assert described == f"{words.removesuffix(' that is not a video')} that is not a video"
    else:
        assert described == words


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h.example:8443/a/b.mp4?sig=1#x", "https://h.example:8443/a/b.mp4"),
        ("https://h.example/b.mp4?sig=1", "https://h.example/b.mp4"),
        ("http://[2001:db8::1]:8080/v.mp4?x=1", "http://[2001:db8::1]:8080/v.mp4"),
        ("http://u@[2001:db8::1]/v.mp4", "http://[2001:db8::1]/v.mp4"),
        ("http://h.example:99999/v.mp4", "<unreadable URL>"),
        ("http://[::1/v.mp4", "<unreadable URL>"),
    ],
)
def test_an_error_names_the_url_without_credentials_or_query(url: str, shown: str) -> None:
    assert url_for_errors(url) == shown


def test_an_exception_text_is_cut_short_and_on_one_line() -> None:
    assert _exception_text(ValueError("")) == "no detail"
    assert _exception_text(ValueError("a\n  b\tc")) == "a b c"
    assert _exception_text(ValueError("x" * 300)) == "x" * 200
