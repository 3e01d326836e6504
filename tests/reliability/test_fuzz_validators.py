"""Property tests of every client-side validator and every response parser.

* No bad request reaches the network: `create()` / `list()` / `get()` are fed
  arbitrary values through a MockTransport that counts requests; whatever is
  sent must satisfy an oracle written from the contract (and the sandbox's own
  parser), and anything refused must be a `ValidationError`.
* No valid request is refused: valid requests are generated from the contract
  (absolute http(s) URLs with hosts, positive finite durations, limit 1..100...).
* Parsers (`LipSyncTask(...)`, `parse_page`, `api_error`, `json_body`) and the
  views built on them never raise anything but our own errors.

Examples are derandomized and bounded so the suite is reproducible and fast;
`benchmarks/soak.py --fuzz` runs the same properties with many more examples.
"""

from __future__ import annotations

import ipaddress
import json
import math
import string
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kitta_notebook import APIError, KittaClient, KittaError, LipSyncTask, ValidationError
from kitta_notebook._responses import api_error, json_body, parse_page, parse_task
from kitta_notebook.display.html import page_html, task_html, task_text
from kitta_notebook.models import TASK_FIELDS, Page
from kitta_notebook.sandbox.envelope import ApiError as SandboxApiError
from kitta_notebook.sandbox.parsing import parse_create
from kitta_notebook.validation import (
    DEFAULT_MODEL,
    check_poll_interval,
    check_url,
    is_public_host,
    task_path,
    validate_create,
    validate_list_params,
)
from tests.reliability.reliability_helpers import FIGURES, assert_inert

BASE = "http://api.test/api"
EXAMPLES = 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
STATUSES = ("pending", "processing", "succeeded", "failed")


class Counter:
    """A MockTransport handler that counts what reached the 'network'."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            return httpx.Response(202, json={"taskId": "lip_task_f", "status": "pending"})
        # The raw path: an id such as "/tasks" is escaped into the detail route (its
        # decoded path would end like the list route's).
        if request.url.raw_path.split(b"?")[0].endswith(b"/tasks"):
            return httpx.Response(200, json={"data": [], "pagination": {"hasMore": False}})
        return httpx.Response(200, json={"taskId": "lip_task_f", "status": "pending"})


def mock_client(handler: Counter, base_url: str = BASE) -> KittaClient:
    return KittaClient(
        "fuzz-token",
        base_url=base_url,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        journal=False,
    )


# --- strategies -----------------------------------------------------------------------------
PUBLIC_TLDS = ("com", "org", "net", "cn", "io", "dev", "co.uk", "com.cn", "app")
label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-")
)
public_domain = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(label, min_size=1, max_size=3),
    st.sampled_from(PUBLIC_TLDS),
)  # fmt: skip
public_ipv4 = st.ip_addresses(v=4).filter(lambda a: a.is_global).map(str)
public_ipv6 = st.ip_addresses(v=6).filter(lambda a: a.is_global).map(lambda a: f"[{a}]")
local_host = st.sampled_from(
    ("localhost", "127.0.0.1", "10.0.0.8", "192.168.1.20", "[::1]", "nas.local", "fileserver")
)
path_text = st.text(string.ascii_letters + string.digits + "-._~/%", max_size=40)


def url_from(host: str, scheme: str, port: int | None, path: str, query: str) -> str:
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}/{path.lstrip('/')}" + (f"?{query}" if query else "")


def urls(hosts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        url_from,
        hosts,
        st.sampled_from(("http", "https", "HTTPS", "Http")),
        st.none() | st.integers(1, 65535),
        path_text,
        st.text(string.ascii_letters + string.digits + "=&", max_size=20),
    )


public_url = urls(public_domain | public_ipv4 | public_ipv6)
any_host_url = urls(public_domain | public_ipv4 | local_host)
durations = st.none() | st.integers(1, 10**6) | st.floats(1e-6, 1e6, allow_nan=False)
models = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "") | st.just(DEFAULT_MODEL)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(
        (
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "ftp://example.com/a.mp3",
            "//example.com/a.mp3",
            "/relative/a.mp3",
            "https://",
            "https:///nohost",
            "http://[::1",
            "http://exa mple.com/a.mp3",
            "https://example.com:99999/a.mp3",
            "https://example.com:-1/a",
            " https://example.com/a.mp3 ",
            "\u3000https://example.com/a.mp3",
            "https://example.com/a\u200b.mp3",
            "https://user:pass@example.com/a.mp3",
            "HTTPS://EXAMPLE.COM/A.MP3",
            "",
            "   ",
        )
    ),
    any_host_url,
)


# --- the contract's oracle -------------------------------------------------------------------
def is_contract_url(value: object) -> bool:
    if not isinstance(value, str) or value != value.strip() or not value:
        return False
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def contract_problems(body: dict[str, Any]) -> list[str]:
    """Why the contract (section 3) would refuse this create body; [] when it is valid."""
    problems = []
    if not isinstance(body.get("model"), str) or not body["model"].strip():
        problems.append("model")
    mode = body.get("inputMode", "video")
    if mode not in ("video", "image"):
        problems.append("inputMode")
    if not is_contract_url(body.get("audioUrl")):
        problems.append("audioUrl")
    for name in ("videoUrl", "imageUrl", "referenceImageUrl"):
        if name in body and not is_contract_url(body[name]):
            problems.append(name)
    if mode == "video" and "videoUrl" not in body:
        problems.append("videoUrl missing")
    if mode == "image" and "imageUrl" not in body:
        problems.append("imageUrl missing")
    duration = body.get("durationSeconds")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float))
        or not (isinstance(duration, int) or math.isfinite(duration))
        or duration <= 0
    ):
        problems.append("durationSeconds")
    extra = set(body) - {
        "model",
        "inputMode",
        "audioUrl",
        "videoUrl",
        "imageUrl",
        "referenceImageUrl",
        "durationSeconds",
    }
    if extra:
        problems.append(f"unknown fields {extra}")
    return problems


def sandbox_accepts(body: dict[str, Any]) -> None:
    """The sandbox's own parser (model and its duration cap aside) must accept `body`."""
    probe = dict(body, model=DEFAULT_MODEL)
    duration = probe.get("durationSeconds")
    if isinstance(duration, (int, float)) and duration > 3600:
        probe["durationSeconds"] = 1
    try:
        parse_create(json.dumps(probe).encode())
    except SandboxApiError as exc:  # pragma: no cover - the failure we look for
        raise AssertionError(f"the sandbox refuses what the client sent: {exc.message}") from exc


# --- create -------------------------------------------------------------------------------------
@FUZZ
@given(
    audio=junk,
    video=junk,
    image=junk,
    reference=junk,
    model=junk | models,
    mode=junk | st.sampled_from(("video", "image", "VIDEO", " image ", "audio")),
    duration=junk | durations,
    official=st.booleans(),
)
def test_no_bad_create_reaches_the_network(
    audio: object,
    video: object,
    image: object,
    reference: object,
    model: object,
    mode: object,
    duration: object,
    official: bool,
) -> None:
    handler = Counter()
    base = "https://kittaaudio.com/api" if official else BASE
    FIGURES.add("fuzz", "create(): arbitrary inputs tried", 1)
    with mock_client(handler, base) as client:
        try:
            client.lip_sync.create(
                audio_url=audio,  # type: ignore[arg-type]
                video_url=video,  # type: ignore[arg-type]
                image_url=image,  # type: ignore[arg-type]
                reference_image_url=reference,  # type: ignore[arg-type]
                model=model,  # type: ignore[arg-type]
                input_mode=mode,  # type: ignore[arg-type]
                duration_seconds=duration,  # type: ignore[arg-type]
                preflight=False,  # the media probe has its own tests: count only the create
            )
        except ValidationError as exc:
            assert exc.problems, "a ValidationError must name its problems"
            assert handler.requests == [], "a refused create was sent anyway"
            FIGURES.add("fuzz", "create(): inputs refused before sending", 1)
            return
        except Exception as exc:
            FIGURES.add("fuzz", "create(): non-Kitta exceptions found", 1)
            raise AssertionError(f"{type(exc).__name__}: {exc!r:.200}") from exc
    assert len(handler.requests) == 1
    body = json.loads(handler.requests[0].content)
    problems = contract_problems(body)
    FIGURES.add("fuzz", "create(): bad requests sent to the network", bool(problems))
    assert problems == [], (problems, body)
    sandbox_accepts(body)
    if official:  # the real service fetches from the public internet
        for name in ("audioUrl", "videoUrl", "imageUrl", "referenceImageUrl"):
            if name in body:
                host = urlsplit(body[name]).hostname or ""
                assert host not in ("localhost", "127.0.0.1", "::1"), body
    FIGURES.add("fuzz", "create(): inputs sent (all valid)", 1)


@FUZZ
@given(
    audio=public_url,
    primary=public_url,
    reference=st.none() | public_url,
    image_mode=st.booleans(),
    explicit_mode=st.booleans(),
    model=models,
    duration=durations,
    official=st.booleans(),
)
def test_no_valid_create_is_refused(
    audio: str,
    primary: str,
    reference: str | None,
    image_mode: bool,
    explicit_mode: bool,
    model: str,
    duration: float | None,
    official: bool,
) -> None:
    handler = Counter()
    base = "https://kittaaudio.com/api" if official else BASE
    kwargs: dict[str, Any] = {"audio_url": audio, "model": model, "duration_seconds": duration}
    if image_mode:
        kwargs.update(image_url=primary, reference_image_url=reference)
    else:
        kwargs.update(video_url=primary)
    if explicit_mode:
        kwargs["input_mode"] = "image" if image_mode else "video"
    FIGURES.add("fuzz", "create(): valid inputs generated", 1)
    with mock_client(handler, base) as client:
        try:
            client.lip_sync.create(**kwargs, preflight=False)
        except ValidationError as exc:
            FIGURES.add("fuzz", "create(): refused valid inputs found", 1)
            raise AssertionError(f"a valid create was refused: {exc}") from exc
    body = json.loads(handler.requests[0].content)
    assert contract_problems(body) == []
    assert body["inputMode"] == ("image" if image_mode else "video")
    assert body["audioUrl"] == audio and body["model"] == model.strip()
    if duration is not None:
        assert body["durationSeconds"] == duration
    sandbox_accepts(body)


# --- URLs --------------------------------------------------------------------------------------
@FUZZ
@given(value=junk | st.text(max_size=80), public=st.booleans())
def test_check_url_accepts_only_absolute_http_urls(value: object, public: bool) -> None:
    FIGURES.add("fuzz", "check_url(): arbitrary inputs tried", 1)
    try:
        url, problem = check_url(value, require_public=public)
    except Exception as exc:
        FIGURES.add("fuzz", "check_url(): non-Kitta exceptions found", 1)
        raise AssertionError(f"{type(exc).__name__}: {exc!r:.200}") from exc
    if problem is None:
        assert url is not None and is_contract_url(url), url
        if public:
            host = (urlsplit(url).hostname or "").strip("[]")
            try:
                assert ipaddress.ip_address(host).is_global, url
            except ValueError:
                assert host not in ("localhost",) and "." in host, url
    else:
        assert url is None and problem.strip()
        assert_full_sentence(problem)
        FIGURES.add("fuzz", "check_url(): inputs refused", 1)


@FUZZ
@given(url=public_url, public=st.booleans())
def test_check_url_never_refuses_a_public_http_url(url: str, public: bool) -> None:
    FIGURES.add("fuzz", "check_url(): valid URLs generated", 1)
    accepted, problem = check_url(url, require_public=public)
    if problem is not None:
        FIGURES.add("fuzz", "check_url(): refused valid inputs found", 1)
    assert problem is None and accepted == url, problem


# --- list and get ---------------------------------------------------------------------------------
@FUZZ
@given(limit=junk | st.integers(-5, 200), offset=junk | st.integers(-5, 10**12), status=junk)
def test_no_bad_list_query_reaches_the_network(
    limit: object, offset: object, status: object
) -> None:
    handler = Counter()
    FIGURES.add("fuzz", "list(): arbitrary inputs tried", 1)
    with mock_client(handler) as client:
        try:
            client.lip_sync.list(limit=limit, offset=offset, status=status)  # type: ignore[arg-type]
        except ValidationError:
            assert handler.requests == []
            FIGURES.add("fuzz", "list(): inputs refused before sending", 1)
            return
        except Exception as exc:
            FIGURES.add("fuzz", "list(): non-Kitta exceptions found", 1)
            raise AssertionError(f"{type(exc).__name__}: {exc!r:.200}") from exc
    params = dict(handler.requests[0].url.params)
    bad = not (
        params["limit"].isdigit()
        and 1 <= int(params["limit"]) <= 100
        and params["offset"].isdigit()
        and params.get("status", "pending") in STATUSES
    )
    FIGURES.add("fuzz", "list(): bad requests sent to the network", bad)
    assert not bad, params


@FUZZ
@given(
    limit=st.integers(1, 100),
    offset=st.integers(0, 10**9),
    status=st.none() | st.sampled_from(STATUSES),
)
def test_no_valid_list_query_is_refused(limit: int, offset: int, status: str | None) -> None:
    FIGURES.add("fuzz", "list(): valid inputs generated", 1)
    try:
        params = validate_list_params(limit, offset, status)
    except ValidationError as exc:
        FIGURES.add("fuzz", "list(): refused valid inputs found", 1)
        raise AssertionError(str(exc)) from exc
    assert params["limit"] == limit and params["offset"] == offset
    assert params.get("status") == status


@FUZZ
@given(
    task_id=junk
    | st.text(max_size=40)
    | st.sampled_from((".", "..", " .. ", "../usage", "%2e%2e", "a/b?c#d"))
)
def test_a_task_id_never_leaves_the_task_route(task_id: object) -> None:
    handler = Counter()
    FIGURES.add("fuzz", "task_path(): arbitrary ids tried", 1)
    with mock_client(handler) as client:
        try:
            client.lip_sync.get(task_id)  # type: ignore[arg-type]
        except ValidationError:
            assert handler.requests == []
            FIGURES.add("fuzz", "task_path(): ids refused before sending", 1)
            return
        except Exception as exc:
            FIGURES.add("fuzz", "task_path(): non-Kitta exceptions found", 1)
            raise AssertionError(f"{type(exc).__name__}: {exc!r:.200}") from exc
    raw = handler.requests[0].url.raw_path
    prefix = b"/api/v1/lip-sync/tasks/"
    escaped = not raw.startswith(prefix) or any(c in raw[len(prefix) :] for c in b"/?#")
    FIGURES.add("fuzz", "task_path(): requests that left the task route", escaped)
    assert not escaped, raw
    assert isinstance(task_id, str)
    assert handler.requests[0].url.path == "/api/v1/lip-sync/tasks/" + task_id.strip()


@FUZZ
@given(task_id=st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=40))
def test_a_plain_task_id_is_always_accepted(task_id: str) -> None:
    FIGURES.add("fuzz", "task_path(): valid ids generated", 1)
    assume(task_id.strip("."))
    assert task_path(task_id) == "/v1/lip-sync/tasks/" + task_id


# --- parsers: arbitrary JSON and bodies ----------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
timestamps = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()) | st.sampled_from(
    ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-07-01T08:00:00.000Z", "z")
)
field_value = (
    json_values
    | timestamps
    | st.sampled_from(STATUSES)
    | st.floats()
    | st.integers(min_value=-(10**400), max_value=10**400)
)
dto = st.dictionaries(
    st.sampled_from(sorted(TASK_FIELDS)) | st.text(max_size=10), field_value, max_size=16
)


def render_everything(task: LipSyncTask) -> None:
    repr(task)
    task_text(task)
    task.to_dict()
    _ = (task.is_terminal, task.succeeded, task.failed, task.is_partial, task.status_text)
    _ = task.elapsed_seconds
    for embed in (False, None):
        assert_inert(task_html(task, embed=embed), section="fuzz")


@FUZZ
@given(raw=dto)
def test_a_task_from_arbitrary_json_parses_and_renders(raw: dict[str, Any]) -> None:
    FIGURES.add("fuzz", "LipSyncTask: arbitrary DTOs parsed and rendered", 1)
    try:
        task = LipSyncTask(raw)
        render_everything(task)
        task._update_from(LipSyncTask({**raw, "status": "succeeded"}))
        render_everything(task)
    except AssertionError:
        raise
    except Exception as exc:
        FIGURES.add("fuzz", "LipSyncTask: non-Kitta exceptions found", 1)
        raise AssertionError(f"{type(exc).__name__}: {exc!r:.300}") from exc


def response(status: int, content: bytes, method: str = "GET", **headers: str) -> httpx.Response:
    request = httpx.Request(method, BASE + "/v1/lip-sync/tasks")
    return httpx.Response(status, content=content, headers=headers, request=request)


bodies = (
    json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda items, pagination: json.dumps({"data": items, "pagination": pagination}).encode(),
        st.lists(dto | json_values, max_size=6),
        json_values,
    )
    | st.builds(
        lambda code, message, rid: json.dumps(
            {"error": {"code": code, "message": message, "requestId": rid}}
        ).encode(),
        json_values,
        json_values,
        json_values,
    )
    | st.binary(max_size=200)
    | st.sampled_from((b"[" * 40_000 + b"]" * 40_000, b"\xff\xfe{}", b"NaN", b"Infinity"))
)
content_types = st.sampled_from(
    ("application/json", "text/html", "application/json; charset=latin-1", "", "text/plain")
)


@FUZZ
@given(
    status=st.integers(100, 599),
    content=bodies,
    ctype=content_types,
    method=st.sampled_from(("GET", "POST")),
)
def test_response_parsers_raise_only_our_errors(
    status: int, content: bytes, ctype: str, method: str
) -> None:
    FIGURES.add("fuzz", "parsers: arbitrary responses tried", 1)
    answer = response(status, content, method, **({"content-type": ctype} if ctype else {}))
    try:
        error = api_error(answer)
        assert isinstance(error, APIError) and error.status_code == status
        str(error)
        repr(error)
        for name, parse in (
            ("json_body", lambda: json_body(answer)),
            ("parse_task", lambda: parse_task(answer, None)),
            ("parse_page", lambda: parse_page(answer, None, 20, 0)),
        ):
            try:
                result = parse()
            except APIError as exc:
                if method == "POST" and 200 <= status < 300 and name != "parse_page":
                    assert exc.may_have_created, "an unreadable 2xx create must say it may exist"
                continue
            if isinstance(result, Page):
                assert_inert(page_html(result), section="fuzz")
                assert all(isinstance(t, LipSyncTask) for t in result)
            elif isinstance(result, LipSyncTask):
                render_everything(result)
    except AssertionError:
        raise
    except KittaError:
        raise AssertionError("only APIError is expected from the parsers") from None
    except Exception as exc:
        FIGURES.add("fuzz", "parsers: non-Kitta exceptions found", 1)
        raise AssertionError(f"{type(exc).__name__}: {exc!r:.300}") from exc


@pytest.mark.parametrize("status", [200, 202, 400, 401, 402, 403, 404, 429, 500, 502, 503])
def test_deeply_nested_json_is_an_api_error_not_a_recursion_error(status: int) -> None:
    """Regression: json.loads raises RecursionError (not ValueError) on deep nesting."""
    nested = b"[" * 100_000 + b"]" * 100_000
    answer = response(status, nested, "POST")
    assert isinstance(api_error(answer), APIError)
    with pytest.raises(APIError) as info:
        json_body(answer)
    assert info.value.may_have_created is (status < 300)


def test_out_of_range_timestamps_render() -> None:
    """Regression: year 1 at +14:00 cannot be shown in UTC (OverflowError in the card)."""
    task = LipSyncTask(
        {
            "taskId": "lip_task_t",
            "id": "row",
            "status": "succeeded",
            "createdAt": "0001-01-01T00:00:00+14:00",
            "completedAt": "9999-12-31T23:59:59-14:00",
        }
    )
    assert_inert(task_html(task), section="fuzz")
    assert "0001-01-01" in task_text(task)


def test_dot_task_ids_are_refused() -> None:
    """Regression: '..' became GET /v1/lip-sync and '.' the list endpoint."""
    for task_id in (".", "..", " .. ", "..."):
        with pytest.raises(ValidationError):
            task_path(task_id)


# --- messages are full sentences with the right cause ---------------------------------------
def assert_full_sentence(message: str) -> None:
    assert message[:1].isupper() and message.endswith("."), message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not a url", "This is not a URL: give an absolute http(s) link"),
        ("ftp://example.com/a.mp3", "The URL uses ftp, but only http and https links"),
        ("example.com/a.mp3", "The URL has no scheme: write it as https://example.com/a.mp3."),
        ("/home/me/a.mp3", "This is a file path, not a URL"),
        ("https://example.com/my clip.mp4", "The URL contains whitespace: percent-encode"),
        ("https://", "The URL has no host name."),
        ("http://[::1", "The URL has an invalid host or port."),
        ("", "This is empty"),
        (42, "This must be a URL string, not int."),
    ],
)
def test_url_messages_name_the_right_cause_in_a_full_sentence(value: object, expected: str) -> None:
    url, problem = check_url(value, require_public=False)
    assert url is None and problem is not None and problem.startswith(expected), problem
    assert_full_sentence(problem)
    assert ":." not in problem and " :" not in problem  # no stray colon (was "not ftp:")


def test_create_messages_are_full_sentences() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_create(
            audio_url=None,
            model="",
            input_mode="audio",
            reference_image_url="https://example.com/r.png",
            duration_seconds=-1,
        )
    fields = caught.value.fields
    assert set(fields) >= {"audio_url", "model", "input_mode", "duration_seconds"}
    for message in fields.values():
        assert_full_sentence(message)
    for bad in ({"limit": 0}, {"offset": -1}, {"status": "done"}):
        with pytest.raises(ValidationError) as listed:
            validate_list_params(**bad)  # type: ignore[arg-type]
        for message in listed.value.fields.values():
            assert_full_sentence(message)


SHORT_PRIVATE_IPV4 = (
    "127.1",
    "0x7f.1",
    "0177.0.0.1",
    "10.1",
    "192.168.1",
    "2130706433",
    "0x7f000001",
)


@pytest.mark.parametrize("host", SHORT_PRIVATE_IPV4)
def test_short_ipv4_forms_are_refused_like_their_long_forms(host: str) -> None:
    assert not is_public_host(host)
    url, problem = check_url(f"http://{host}/clip.mp4", require_public=True)
    assert url is None and problem is not None and problem.startswith("The service cannot reach")
    with pytest.raises(ValidationError):
        validate_create(
            audio_url=f"http://{host}/a.mp3",
            video_url="https://example.com/v.mp4",
            require_public_urls=True,
        )
    assert check_url(f"http://{host}/clip.mp4", require_public=False)[1] is None  # sandbox: fine


def test_public_numeric_hosts_stay_accepted() -> None:
    for host in ("8.8.8.8", "8.8", "1.1.1.1", "example.com", "cdn.example.org"):
        assert is_public_host(host), host


@given(a=st.integers(0, 255), b=st.integers(0, 255), c=st.integers(0, 255), d=st.integers(0, 255))
@FUZZ
def test_every_spelling_of_an_ipv4_address_is_judged_like_its_dotted_form(
    a: int, b: int, c: int, d: int
) -> None:
    dotted = f"{a}.{b}.{c}.{d}"
    expected = ipaddress.ip_address(dotted).is_global
    number = (a << 24) | (b << 16) | (c << 8) | d
    spellings = (
        dotted,
        str(number),
        hex(number),
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"0{a:o}.{b}.{c}.{d}" if a else dotted,
    )
    for spelling in spellings:
        assert is_public_host(spelling) == expected, (spelling, dotted)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, "3", True, [1]])
def test_a_bad_poll_interval_is_a_validation_error(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        check_poll_interval(bad)
    assert_full_sentence(caught.value.fields["poll_interval"])
    assert check_poll_interval(None) is None and check_poll_interval(0) == 0.0
