"""What is refused before any request (no credits spent), and the words that say why: a
create's fields, a media URL, a list query, a task id, a poll interval. The checks are
I/O-free by design, so they are tested as pure functions.

Gaps found by mutation testing (`make mutate`) of `validation.py`."""

from __future__ import annotations

import math

import pytest

from kitta_notebook.errors import ValidationError
from kitta_notebook.models import TaskStatus
from kitta_notebook.validation import (
    CreateRequest,
    check_poll_interval,
    check_url,
    is_public_host,
    task_path,
    validate_create,
    validate_list_params,
    validate_status,
)

AUDIO = "https://media.example.com/speech.mp3"
VIDEO = "https://media.example.com/face.mp4"
IMAGE = "https://media.example.com/face.png"
REFERENCE = "https://media.example.com/ref.png"


def problems(**fields: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        validate_create(**fields)  # type: ignore[arg-type]
    return caught.value.problems


# --- which hosts count as public ------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "localhost.localdomain",
        "api.localhost",
        "printer.local",
        "db.internal",
        "nas.lan",
        "fileserver",  # a bare intranet name
        "127.0.0.1",
        "127.0.0.1.",
        "127.1",
        "0x7f.1",
        "0177.0.0.1",
        "2130706433",
        "10.0.0.7",
        "100.64.0.1",  # carrier-grade NAT: not private, not public either
        "169.254.169.254",
        "999.1.1.1",  # a numeric host no resolver reads
        "[::1]",
        "::ffff:127.0.0.1",
    ],
)
def test_local_private_and_unreadable_hosts_are_not_public(host: str) -> None:
    assert is_public_host(host) is False


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "MEDIA.Example.COM.",
        "8.8.8.8",
        "0x8.0x8.0x8.0x8",
        "134744072",
        "X10.0.0.7",  # a name that merely contains an address is a name
    ],
)
def test_public_names_and_addresses_are_public(host: str) -> None:
    assert is_public_host(host) is True


# --- one media URL --------------------------------------------------------------------

FILE_PATH = (
    "This is a file path, not a URL: the service fetches media by http(s) URL and has no "
    "upload endpoint, so publish the file and give its link."
)
ONLY_HTTP = "but only http and https links can be fetched by the service."
NO_REFERENCE = "A reference image is only used in image mode: drop it or set input_mode='image'."
STATUSES = "The status must be one of pending, processing, succeeded, failed, not"
NOT_A_URL = (
    "This is not a URL: give an absolute http(s) link such as https://example.com/speech.mp3."
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "This must be a URL string, not int."),
        (None, "This must be a URL string, not NoneType."),
        ("   ", "This is empty: give the URL of the file."),
        ("/data/speech.mp3", FILE_PATH),
        ("./speech.mp3", FILE_PATH),
        ("../speech.mp3", FILE_PATH),
        ("~/speech.mp3", FILE_PATH),
        ("\\\\server\\share\\speech.mp3", FILE_PATH),
        ("C:\\media\\speech.mp3", FILE_PATH),
        ("c:/media/speech.mp3", FILE_PATH),
        (
            "example.com/speech.mp3",
            "The URL has no scheme: write it as https://example.com/speech.mp3.",
        ),
        (
            "localhost:8000/a.mp3",
            "The URL has no scheme: write it as https://localhost:8000/a.mp3.",
        ),
        (
            "media.example.com:8080/a.mp3",
            "The URL has no scheme: write it as https://media.example.com:8080/a.mp3.",
        ),
        (
            "media.example.com:8080/a.mp3?from=https://cdn.example.com",
            "The URL has no scheme: write it as "
            "https://media.example.com:8080/a.mp3?from=https://cdn.example.com.",
        ),
        ("http:example.com/a.mp3", "The URL has no host name."),
        ("speech", NOT_A_URL),
        ("notes/v1.2/readme", NOT_A_URL),  # only the part before the first / may be a host
        ("my speech.mp3 file", NOT_A_URL),
        ("example.com/my speech.mp3", NOT_A_URL),
        ("ftp://example.com/a.mp3", f"The URL uses ftp, {ONLY_HTTP}"),
        ("S3://bucket/a.mp3", f"The URL uses s3, {ONLY_HTTP}"),
        ("a" * 30 + "://x/a.mp3", f"The URL uses {'a' * 20}, {ONLY_HTTP}"),
        (
            "https://example.com/a b.mp3",
            "The URL contains whitespace: percent-encode each space as %20.",
        ),
        ("http://[::1/a.mp3", "The URL has an invalid host or port."),
        ("http://example.com:99999/a.mp3", "The URL has an invalid host or port."),
        ("http:///a.mp3", "The URL has no host name."),
    ],
)
def test_a_bad_media_url_is_refused_naming_its_cause(value: object, message: str) -> None:
    assert check_url(value, require_public=False) == (None, message)


def test_a_good_url_is_kept_as_written_without_surrounding_blanks() -> None:
    assert check_url(f"  {AUDIO}\n", require_public=True) == (AUDIO, None)
    assert check_url("HTTP://Example.com/A.mp3", require_public=True) == (
        "HTTP://Example.com/A.mp3",
        None,
    )


def test_only_the_real_service_refuses_a_local_host() -> None:
    url = "http://localhost:8000/a.mp3"
    assert check_url(url, require_public=False) == (url, None)
    assert check_url(url, require_public=True) == (
        None,
        "The service cannot reach localhost: it fetches media from the public internet, "
        "so host the file at a public URL (object storage or a CDN).",
    )


# --- a whole create -------------------------------------------------------------------


def test_a_video_create_goes_on_the_wire_with_the_contract_names() -> None:
    request = validate_create(audio_url=AUDIO, video_url=VIDEO, duration_seconds=2.5)
    assert request == CreateRequest(
        model="kitta-lip-sync-v1",
        input_mode="video",
        audio_url=AUDIO,
        video_url=VIDEO,
        duration_seconds=2.5,
    )
    assert request.body == {
        "model": "kitta-lip-sync-v1",
        "inputMode": "video",
        "videoUrl": VIDEO,
        "audioUrl": AUDIO,
        "durationSeconds": 2.5,
    }


def test_an_image_create_carries_its_image_and_reference() -> None:
    request = validate_create(
        audio_url=f" {AUDIO} ", image_url=IMAGE, reference_image_url=REFERENCE, model=" m2 "
    )
    assert request.body == {
        "model": "m2",
        "inputMode": "image",
        "imageUrl": IMAGE,
        "audioUrl": AUDIO,
        "referenceImageUrl": REFERENCE,
    }
    assert request.video_url is None and request.duration_seconds is None


@pytest.mark.parametrize(
    ("given", "mode"),
    [
        ({"video_url": VIDEO}, "video"),
        ({"image_url": IMAGE}, "image"),
        ({"image_url": IMAGE, "input_mode": " IMAGE "}, "image"),
        ({"video_url": VIDEO, "input_mode": "Video"}, "video"),
    ],
)
def test_the_input_mode_is_inferred_unless_given(given: dict[str, str], mode: str) -> None:
    assert validate_create(audio_url=AUDIO, **given).input_mode == mode  # type: ignore[arg-type]


def test_an_image_beside_a_video_does_not_switch_to_image_mode() -> None:
    found = problems(
        audio_url=AUDIO, video_url=VIDEO, image_url=IMAGE, reference_image_url=REFERENCE
    )
    assert found == [
        ("reference_image_url", NO_REFERENCE),
    ]


def test_every_problem_of_a_create_is_listed_at_once() -> None:
    found = problems(
        audio_url="  ",
        model=" ",
        input_mode="audio",
        duration_seconds=0,
        reference_image_url=REFERENCE,
    )
    assert found == [
        ("model", "A model is required, for example 'kitta-lip-sync-v1'."),
        ("input_mode", "The input mode must be 'video' or 'image', not 'audio'."),
        ("audio_url", "An audio URL is required: the audio drives the mouth."),
        ("video_url", "A video URL is required in video mode (or give image_url for image mode)."),
        ("reference_image_url", NO_REFERENCE),
        ("duration_seconds", "The duration must be a finite number greater than 0."),
    ]


def test_image_mode_needs_an_image() -> None:
    assert problems(audio_url=AUDIO, video_url=VIDEO, input_mode="image", model=5) == [
        ("model", "A model is required, for example 'kitta-lip-sync-v1'."),
        ("image_url", "An image URL is required in image mode: the person's picture."),
    ]


def test_a_bad_url_is_named_under_its_field() -> None:
    assert problems(audio_url="ftp://x/a.mp3", video_url=VIDEO) == [
        ("audio_url", f"The URL uses ftp, {ONLY_HTTP}")
    ]


def test_the_real_service_refuses_local_media_before_sending() -> None:
    local = "http://127.0.0.1:8000/a.mp4"
    assert validate_create(audio_url=AUDIO, video_url=local).video_url == local
    found = problems(audio_url=AUDIO, video_url=local, require_public_urls=True)
    assert [field for field, _ in found] == ["video_url"]


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        (True, "The duration must be a number of seconds, for example 12."),
        ("3", "The duration must be a number of seconds, for example 12."),
        (0, "The duration must be a finite number greater than 0."),
        (-1.5, "The duration must be a finite number greater than 0."),
        (math.nan, "The duration must be a finite number greater than 0."),
        (math.inf, "The duration must be a finite number greater than 0."),
        (10**400, "The duration must be a finite number greater than 0."),
    ],
)
def test_a_bad_duration_is_refused(duration: object, message: str) -> None:
    found = problems(audio_url=AUDIO, video_url=VIDEO, duration_seconds=duration)
    assert found == [("duration_seconds", message)]


def test_a_duration_under_a_second_is_kept() -> None:
    assert (
        validate_create(audio_url=AUDIO, video_url=VIDEO, duration_seconds=0.5).body[
            "durationSeconds"
        ]
        == 0.5
    )


def test_a_whole_number_duration_is_kept() -> None:
    assert (
        validate_create(audio_url=AUDIO, video_url=VIDEO, duration_seconds=3).duration_seconds == 3
    )


# --- poll interval, list query, status, task id ---------------------------------------


@pytest.mark.parametrize("value", [0, 2, 0.5])
def test_a_poll_interval_is_seconds_as_a_float(value: float) -> None:
    checked = check_poll_interval(value)
    assert checked == value and isinstance(checked, float)
    assert check_poll_interval(None) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "The poll interval must be a number of seconds, not True."),
        ("5", "The poll interval must be a number of seconds, not '5'."),
        (-1, "The poll interval must be a finite number ≥ 0, not -1."),
        (math.inf, "The poll interval must be a finite number ≥ 0, not inf."),
        (math.nan, "The poll interval must be a finite number ≥ 0, not nan."),
    ],
)
def test_a_bad_poll_interval_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_poll_interval(value)
    assert caught.value.problems == [("poll_interval", message)]


def test_a_list_query_at_its_bounds_is_sent_as_given() -> None:
    assert validate_list_params(1, 0) == {"limit": 1, "offset": 0}
    assert validate_list_params(100, 7, TaskStatus.SUCCEEDED) == {
        "limit": 100,
        "offset": 7,
        "status": "succeeded",
    }
    assert validate_list_params() == {"limit": 20, "offset": 0}


def test_a_status_filter_goes_out_as_plain_text() -> None:
    """`str(TaskStatus.FAILED)` is 'TaskStatus.FAILED': the query must carry the value."""
    sent = validate_list_params(status=TaskStatus.FAILED)["status"]
    assert type(sent) is str and str(sent) == "failed"


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ((0, 0), [("limit", "The limit must be a whole number from 1 to 100, not 0.")]),
        ((101, 0), [("limit", "The limit must be a whole number from 1 to 100, not 101.")]),
        ((True, 0), [("limit", "The limit must be a whole number from 1 to 100, not True.")]),
        (("5", 0), [("limit", "The limit must be a whole number from 1 to 100, not '5'.")]),
        ((5, -1), [("offset", "The offset must be a whole number ≥ 0, not -1.")]),
        ((5, False), [("offset", "The offset must be a whole number ≥ 0, not False.")]),
        ((5, 1.0), [("offset", "The offset must be a whole number ≥ 0, not 1.0.")]),
        (
            (0, -1, "done"),
            [
                ("limit", "The limit must be a whole number from 1 to 100, not 0."),
                ("offset", "The offset must be a whole number ≥ 0, not -1."),
                ("status", f"{STATUSES} 'done'."),
            ],
        ),
    ],
)
def test_a_bad_list_query_lists_every_problem(
    query: tuple[object, ...], found: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_list_params(*query)
    assert caught.value.problems == found


def test_a_status_filter_is_its_wire_value() -> None:
    assert validate_status(None) is None
    assert validate_status(TaskStatus.FAILED) == "failed"
    assert validate_status("pending") == "pending"
    with pytest.raises(ValidationError) as caught:
        validate_status("Pending")
    assert caught.value.problems == [("status", f"{STATUSES} 'Pending'.")]


@pytest.mark.parametrize(
    ("task_id", "path"),
    [
        (" lip_task_1 ", "/v1/lip-sync/tasks/lip_task_1"),
        ("a/../b", "/v1/lip-sync/tasks/a%2F..%2Fb"),
        ("v1.2", "/v1/lip-sync/tasks/v1.2"),
        ("...a", "/v1/lip-sync/tasks/...a"),
        ("X.", "/v1/lip-sync/tasks/X."),
    ],
)
def test_a_task_id_stays_inside_the_tasks_route(task_id: str, path: str) -> None:
    assert task_path(task_id) == path


@pytest.mark.parametrize(
    ("task_id", "message"),
    [
        (7, "A task id must be a non-empty string such as 'lip_task_123'."),
        ("  ", "A task id must be a non-empty string such as 'lip_task_123'."),
        (".", "This is not a task id: it is only dots."),
        (" .. ", "This is not a task id: it is only dots."),
    ],
)
def test_a_task_id_that_is_no_id_is_refused(task_id: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        task_path(task_id)
    assert caught.value.problems == [("task_id", message)]
