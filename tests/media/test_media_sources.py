"""Sources and sniffing: what counts as local, what a file really is."""

from __future__ import annotations

import io
import os
from pathlib import Path

import filetype
import pytest

from kitta_notebook.errors import ValidationError
from kitta_notebook.media import SNIFF_BYTES, classify_source, sniff, to_blob

EXPECTED = {
    "wav": ("audio", "wav"),
    "mp3": ("audio", "mp3"),
    "m4a": ("audio", "m4a"),
    "mp4_front": ("video", "mp4"),
    "mp4_end": ("video", "mp4"),
    "png": ("image", "png"),
    "jpeg": ("image", "jpg"),
    "html": ("html", "html"),
    "json": ("json", "json"),
    "text": ("text", "txt"),
    "noise": ("unknown", "bin"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sniff_names_the_real_format(media: dict[str, Path], name: str) -> None:
    found = sniff(media[name].read_bytes()[:SNIFF_BYTES])
    assert (found.kind, found.extension) == EXPECTED[name]


@pytest.mark.parametrize("name", ["wav", "mp3", "mp4_front", "png", "jpeg"])
def test_sniff_agrees_with_filetype(media: dict[str, Path], name: str) -> None:
    """A second opinion from a well-kept magic-number library."""
    theirs = filetype.guess(str(media[name]))
    assert theirs is not None
    assert theirs.mime.split("/")[0] == sniff(media[name].read_bytes()[:SNIFF_BYTES]).kind


def test_sniff_ignores_the_file_name(tmp_path: Path, media: dict[str, Path]) -> None:
    disguised = tmp_path / "clip.mp4"
    disguised.write_bytes(media["html"].read_bytes())
    assert to_blob(disguised).sniffed.kind == "html"


def test_sniff_small_inputs() -> None:
    assert sniff(b"").kind == "unknown"
    assert sniff(b"\xff\xf1\x50\x80").extension == "aac"
    assert sniff(b"ID3\x04").extension == "mp3"
    assert sniff(b"\x1a\x45\xdf\xa3\x01\x00\x42\x82\x84webm").extension == "webm"


def test_classify_sources(tmp_path: Path, media: dict[str, Path]) -> None:
    assert classify_source("https://example.com/a.mp4") == "url"
    assert classify_source("HTTP://example.com/a.mp4") == "url"
    assert classify_source(str(media["wav"])) == "local"
    assert classify_source(media["wav"]) == "local"
    assert classify_source(b"RIFF") == "local"
    assert classify_source(io.BytesIO(b"x")) == "local"
    assert classify_source(str(tmp_path / "nope.wav")) == "missing"
    assert classify_source("clip.mp4") == "missing"
    assert classify_source("ftp://example.com/a.mp4") == "other"
    assert classify_source(None) == "other"
    assert classify_source(42) == "other"


def test_blob_from_each_kind_of_source(media: dict[str, Path]) -> None:
    data = media["wav"].read_bytes()
    from_path = to_blob(media["wav"])
    assert from_path.path == media["wav"] and from_path.size == len(data)
    assert from_path.key == f"{from_path.sha256}.wav"
    assert from_path.content_type == "audio/wav"
    assert to_blob(str(media["wav"])).sha256 == from_path.sha256
    assert to_blob(os.fsencode(media["wav"]).decode()).sha256 == from_path.sha256
    from_bytes = to_blob(data)
    assert from_bytes.sha256 == from_path.sha256 and from_bytes.name == "upload.wav"
    with media["wav"].open("rb") as handle:
        assert to_blob(handle).path == media["wav"]
    named = to_blob(io.BytesIO(data), name="dub.wav")
    assert named.name == "dub.wav" and named.data == data


def test_missing_file_text_keeps_a_clear_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        to_blob("dub.wav", field="audio_url")
    assert caught.value.fields["audio_url"].startswith(
        "'dub.wav' is neither an http(s) URL nor an existing local file"
    )


def test_text_mode_file_is_refused(media: dict[str, Path]) -> None:
    stream = io.StringIO("text")
    with pytest.raises(ValidationError, match="mode 'rb'"):
        to_blob(stream, field="audio_url")


def test_unknown_content_keeps_its_file_extension_in_the_key() -> None:
    blob = to_blob(io.BytesIO(bytes(range(7, 256))), name="take.xyz")
    assert blob.key.endswith(".xyz") and blob.sniffed.kind == "unknown"


def test_storage_error_document_is_not_media() -> None:
    found = sniff(b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>')
    assert (found.kind, found.label) == ("html", "XML document")


@pytest.mark.parametrize("text", ["http://[", "https://[::1", "ftp://[", "x://[]"])
def test_text_that_url_parsers_reject_is_classified_without_raising(text: str) -> None:
    """Found by fuzzing create(): such text is left to the URL check's own message."""
    assert classify_source(text) in ("url", "other", "missing")
