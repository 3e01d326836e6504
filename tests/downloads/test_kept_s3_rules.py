"""The rules of a kept copy in a team's bucket that need no bucket: what a replaced copy
says, and which setting a bad location or a vanished file is blamed on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kitta_notebook._fetch import Fetched, FetchLimits
from kitta_notebook._kept import KEEP_ENV, fetch_kept
from kitta_notebook._kept_s3 import check_sha256, keep_object, signed_url
from kitta_notebook.errors import DownloadError, ValidationError
from kitta_notebook.history.entry import KeptResult

RECORDED = "ab" * 32
URL = "https://bucket.example.com/team/kept/lip_task_1-0a1b2c3d.mp4"


def test_the_kept_bytes_are_used_only_when_their_sha256_is_the_recorded_one() -> None:
    check_sha256(Fetched(url=URL, size=10, sha256=RECORDED), RECORDED)  # no error
    with pytest.raises(DownloadError) as replaced:
        check_sha256(Fetched(url=URL, size=10, sha256="cd" * 32), RECORDED)
    assert str(replaced.value) == (
        f"The kept copy at {URL} was replaced: its sha256 is cdcdcdcdcdcd…, the journal "
        "recorded abababababab…. It is not used; nothing was written."
    )
    assert (replaced.value.url, replaced.value.reason) == (URL, "changed")


def test_a_recorded_location_without_a_bucket_is_blamed_on_the_setting_named() -> None:
    with pytest.raises(ValidationError) as bad:
        signed_url("s3:///team/kept/lip_task_1.mp4", "KITTA_KEEP_RESULTS")
    assert "KITTA_KEEP_RESULTS: must look like s3://bucket/prefix" in str(bad.value)


def test_a_result_file_gone_before_its_upload_is_named_with_the_setting(tmp_path: Path) -> None:
    gone = tmp_path / "lip_task_1.mp4"
    with pytest.raises(ValidationError) as missing:
        keep_object("s3://team-bucket/kept", "lip_task_1.mp4", gone, "KITTA_KEEP_RESULTS")
    assert str(missing.value).count("KITTA_KEEP_RESULTS:") == 1
    assert "source:" not in str(missing.value)


def test_a_journal_record_naming_no_bucket_is_blamed_on_the_keep_setting() -> None:
    """A journal another tool wrote (or damaged) may hold any location: reading it says
    which setting kept it, before anything is fetched."""
    record = KeptResult("lip_task_1", "s3:///team/kept/x.mp4", 10, RECORDED, datetime.now(UTC))
    with pytest.raises(ValidationError, match=f": {KEEP_ENV}: must look like s3://bucket/prefix"):
        fetch_kept(record, FetchLimits(5, 100))
