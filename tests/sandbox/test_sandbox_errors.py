"""Contract section 7: every error row, always the envelope with a requestId."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kitta_notebook.sandbox import Sandbox
from tests.sandbox.sandbox_helpers import (
    ALICE,
    BOB,
    POOR,
    PRO,
    TASKS,
    V1,
    api_client,
    assert_error,
    video_body,
)

DROP = object()


def _body(**changes: Any) -> dict[str, Any]:
    """A valid video body ("V"/"A" become sample URLs) with fields changed or dropped."""
    body: dict[str, Any] = {"model": V1, "videoUrl": "V", "audioUrl": "A"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


# Each -> 400 invalid_request.
BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("model missing", _body(model=DROP)),
    ("model empty", _body(model="")),
    ("model not supported", _body(model="kitta-lip-sync-v999")),
    ("model wrong type", _body(model=1)),
    ("audioUrl missing", _body(audioUrl=DROP)),
    ("audioUrl null", _body(audioUrl=None)),
    ("neither videoUrl nor imageUrl", _body(videoUrl=DROP)),
    ("nothing but model", _body(videoUrl=DROP, audioUrl=DROP)),
    ("audioUrl wrong type", _body(audioUrl=5)),
    ("videoUrl wrong type", _body(videoUrl=["V"])),
    ("url not http", _body(videoUrl="ftp://x/v.mp4")),
    ("url relative", _body(videoUrl="/v.mp4")),
    ("url bad port", _body(audioUrl="http://127.0.0.1:99999/a.wav")),
    ("url broken ipv6", _body(videoUrl="http://[::1/v.mp4")),
    ("url no host", _body(videoUrl="http:///v.mp4")),
    ("inputMode unknown", _body(inputMode="audio")),
    ("inputMode wrong type", _body(inputMode=1)),
    ("image mode without imageUrl", _body(inputMode="image")),
    ("video mode without videoUrl", _body(inputMode="video", videoUrl=DROP, imageUrl="I")),
    ("durationSeconds string", _body(durationSeconds="12")),
    ("durationSeconds bool", _body(durationSeconds=True)),
    ("durationSeconds zero", _body(durationSeconds=0)),
    ("durationSeconds negative", _body(durationSeconds=-3)),
    ("durationSeconds huge", _body(durationSeconds=1e9)),
    ("durationSeconds giant integer", _body(durationSeconds=10**400)),
    ("durationSeconds negative giant integer", _body(durationSeconds=-(10**400))),
]


def _fill(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    urls = {"V": sb.samples["video"], "A": sb.samples["audio"], "I": sb.samples["image"]}
    return {k: urls.get(v, v) if isinstance(v, str) else v for k, v in body.items()}


@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=[n for n, _ in BAD_BODIES])
def test_bad_create_body_is_400(
    sandbox: Sandbox, fresh: httpx.Client, name: str, body: dict[str, Any]
) -> None:
    response = fresh.post(TASKS, json=_fill(sandbox, body))
    assert_error(response, 400, "invalid_request")
    assert fresh.get(TASKS).json()["data"] == []  # nothing was created


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[]", b'"text"', b"null", b"\xff\xfe", b"42", b"[" * 100_000],
    ids=["broken", "empty", "array", "string", "null", "not-utf8", "number", "deep"],
)
def test_non_object_json_body_is_400(fresh: httpx.Client, raw: bytes) -> None:
    response = fresh.post(TASKS, content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")


def test_nan_duration_is_400(sandbox: Sandbox, fresh: httpx.Client) -> None:
    raw = (
        f'{{"model": "{V1}", "videoUrl": "{sandbox.samples["video"]}", '
        f'"audioUrl": "{sandbox.samples["audio"]}", "durationSeconds": NaN}}'
    )
    assert_error(fresh.post(TASKS, content=raw.encode()), 400, "invalid_request")


def test_400_message_names_the_problem(sandbox: Sandbox, fresh: httpx.Client) -> None:
    error = assert_error(fresh.post(TASKS, json={"model": V1, "videoUrl": "http://x/v"}), 400)
    assert "audioUrl" in error["message"]
    error = assert_error(fresh.post(TASKS, json={"model": "nope", "audioUrl": "http://x/a"}), 400)
    assert "nope" in error["message"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=",
        "offset=-1",
        "offset=x",
        "status=done",
        "status=",
        "status=SUCCEEDED",
    ],
)
def test_bad_list_query_is_400(alice: httpx.Client, query: str) -> None:
    assert_error(alice.get(f"{TASKS}?{query}"), 400, "invalid_request")


ROUTES = [
    ("POST", TASKS),
    ("GET", TASKS),
    ("GET", f"{TASKS}/lip_task_0123456789abcdef"),
    ("GET", "/v1/usage"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Basic YWxpY2U6eA==", "Bearer", f"Token {ALICE}", ""],
    ids=["missing", "unknown", "basic", "empty-bearer", "other-scheme", "blank"],
)
def test_every_api_route_needs_a_valid_token(
    sandbox: Sandbox, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as client:
        response = client.request(method, path, headers=headers, json=video_body(sandbox))
    assert_error(response, 401, "unauthorized")


def test_401_comes_before_body_validation(sandbox: Sandbox) -> None:
    with api_client(sandbox, None) as client:
        assert_error(client.post(TASKS, content=b"{broken"), 401)


def test_insufficient_credits_is_402_and_nothing_happens(sandbox: Sandbox) -> None:
    before = sandbox.balance(POOR)
    with api_client(sandbox, POOR) as poor:
        response = poor.post(TASKS, json=video_body(sandbox, durationSeconds=12))
        error = assert_error(response, 402, "insufficient_credits")
        assert "credit" in error["message"]
        assert poor.get(TASKS).json()["data"] == []
    assert sandbox.balance(POOR) == before


def test_402_exactly_at_the_edge(sandbox: Sandbox) -> None:
    token = "edge-token"
    sandbox.add_account(token, 1200)
    with api_client(sandbox, token) as client:
        assert_error(client.post(TASKS, json=video_body(sandbox, durationSeconds=12.01)), 402)
        assert client.post(TASKS, json=video_body(sandbox, durationSeconds=12)).status_code == 202
    assert sandbox.balance(token) == 0


def test_pro_model_without_grant_is_403(sandbox: Sandbox, bob: httpx.Client) -> None:
    before = sandbox.balance(BOB)
    response = bob.post(TASKS, json=video_body(sandbox, model=PRO))
    error = assert_error(response, 403, "forbidden")
    assert PRO in error["message"]
    assert sandbox.balance(BOB) == before


def test_unknown_task_is_404(alice: httpx.Client) -> None:
    assert_error(alice.get(f"{TASKS}/lip_task_doesnotexist"), 404, "not_found")


def test_another_accounts_task_is_404_like_a_missing_one(
    sandbox: Sandbox, alice: httpx.Client, bob: httpx.Client
) -> None:
    task_id = alice.post(TASKS, json=video_body(sandbox)).json()["taskId"]
    theirs = assert_error(bob.get(f"{TASKS}/{task_id}"), 404, "not_found")
    missing = assert_error(bob.get(f"{TASKS}/lip_task_ffffffffffffffffffffffff"), 404)
    assert theirs["message"].replace(task_id, "X") == missing["message"].replace(
        "lip_task_ffffffffffffffffffffffff", "X"
    )
    assert task_id not in [t["taskId"] for t in bob.get(f"{TASKS}?limit=100").json()["data"]]


@pytest.mark.parametrize(
    "path", ["/v1/nope", "/v2/lip-sync/tasks", "/v1/lip-sync/tasks/", "/v1/lip-sync/tasks/a/b"]
)
def test_unknown_route_is_404_envelope(alice: httpx.Client, path: str) -> None:
    assert_error(alice.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", TASKS, {"GET", "POST"}),
        ("PUT", TASKS, {"GET", "POST"}),
        ("POST", f"{TASKS}/lip_task_1", {"GET"}),
        ("DELETE", f"{TASKS}/lip_task_1", {"GET"}),
        ("POST", "/v1/usage", {"GET"}),
    ],
)
def test_wrong_method_is_405_envelope(
    alice: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    response = alice.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_request_ids_are_unique(alice: httpx.Client) -> None:
    ids = {alice.get("/v1/nope").json()["error"]["requestId"] for _ in range(5)}
    assert len(ids) == 5


def test_successful_responses_carry_a_request_id(sandbox: Sandbox, alice: httpx.Client) -> None:
    for response in (
        alice.get(TASKS),
        alice.get("/v1/usage"),
        alice.post(TASKS, json=video_body(sandbox)),
    ):
        assert response.status_code < 300
        assert response.headers["x-request-id"].startswith("req_")
