"""Contract sections 3-5 and 8: create answers 202 + the full DTO; detail; credits."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

import httpx

from kitta_notebook.sandbox import PRICES, Sandbox, estimate_credits
from tests.sandbox.sandbox_helpers import PRO, TASKS, V1, image_body, sample_seconds, video_body

DTO_FIELDS = {
    "id",
    "taskId",
    "type",
    "status",
    "model",
    "inputMode",
    "resultVideoUrl",
    "errorCode",
    "errorMessage",
    "creditsCharged",
    "createdAt",
    "startedAt",
    "completedAt",
}
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def test_create_video_task_returns_202_and_full_dto(sandbox: Sandbox, fresh: httpx.Client) -> None:
    before = datetime.now(timezone.utc)
    response = fresh.post(TASKS, json=video_body(sandbox, durationSeconds=12))
    assert response.status_code == 202, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    dto = response.json()
    assert set(dto) == DTO_FIELDS
    assert re.fullmatch(r"row_\d+", dto["id"])
    assert re.fullmatch(r"lip_task_[0-9a-f]+", dto["taskId"])
    assert dto["taskId"] != dto["id"]
    assert dto["type"] == "lip_sync"
    assert dto["status"] == "pending"
    assert dto["model"] == V1
    assert dto["inputMode"] == "video"
    assert dto["resultVideoUrl"] is None
    assert dto["errorCode"] is None and dto["errorMessage"] is None
    assert dto["creditsCharged"] == 1200  # the contract's example: 12 s -> 1200
    assert ISO_MS_Z.match(dto["createdAt"])
    created = _parse(dto["createdAt"])
    assert abs((created - before).total_seconds()) < 5
    assert dto["startedAt"] is None and dto["completedAt"] is None


def test_input_mode_defaults_to_video(sandbox: Sandbox, fresh: httpx.Client) -> None:
    body = video_body(sandbox)
    assert "inputMode" not in body
    assert fresh.post(TASKS, json=body).json()["inputMode"] == "video"


def test_create_image_task_with_reference(sandbox: Sandbox, fresh: httpx.Client) -> None:
    body = image_body(sandbox, referenceImageUrl=sandbox.samples["reference_image"])
    response = fresh.post(TASKS, json=body)
    assert response.status_code == 202, response.text
    assert response.json()["inputMode"] == "image"


def test_detail_returns_the_same_dto(sandbox: Sandbox, fresh: httpx.Client) -> None:
    created = fresh.post(TASKS, json=video_body(sandbox, durationSeconds=3)).json()
    response = fresh.get(f"{TASKS}/{created['taskId']}")
    assert response.status_code == 200
    dto = response.json()
    assert set(dto) == DTO_FIELDS
    for field in ("id", "taskId", "type", "model", "inputMode", "createdAt", "creditsCharged"):
        assert dto[field] == created[field]


def test_unknown_fields_are_ignored(sandbox: Sandbox, fresh: httpx.Client) -> None:
    response = fresh.post(TASKS, json=video_body(sandbox, webhook="https://x.invalid", extra=[1]))
    assert response.status_code == 202


def test_create_charges_credits_at_creation(sandbox: Sandbox, fresh: httpx.Client) -> None:
    token = fresh.headers["X-Test-Token"]
    before = sandbox.balance(token)
    dto = fresh.post(TASKS, json=video_body(sandbox, durationSeconds=8.5)).json()
    assert dto["creditsCharged"] == 850
    assert sandbox.balance(token) == before - 850


def test_pro_model_for_a_granted_account_costs_more(sandbox: Sandbox, alice: httpx.Client) -> None:
    response = alice.post(TASKS, json=video_body(sandbox, model=PRO, durationSeconds=12))
    assert response.status_code == 202, response.text
    assert response.json()["model"] == PRO
    assert response.json()["creditsCharged"] == 12 * PRICES[PRO].credits_per_second > 1200


def test_price_uses_measured_sample_audio_without_duration(
    sandbox: Sandbox, fresh: httpx.Client
) -> None:
    dto = fresh.post(TASKS, json=video_body(sandbox)).json()
    expected = math.ceil(sample_seconds("audio") * PRICES[V1].credits_per_second)
    assert abs(dto["creditsCharged"] - expected) <= 1


def test_price_falls_back_for_unmeasurable_audio(sandbox: Sandbox, fresh: httpx.Client) -> None:
    body = video_body(sandbox, audioUrl="https://media.example.invalid/a.mp3")
    dto = fresh.post(TASKS, json=body).json()
    assert dto["creditsCharged"] == estimate_credits(V1, None) == 1000


def test_each_create_makes_a_new_task(sandbox: Sandbox, fresh: httpx.Client) -> None:
    first = fresh.post(TASKS, json=video_body(sandbox)).json()
    second = fresh.post(TASKS, json=video_body(sandbox)).json()
    assert first["taskId"] != second["taskId"]
    assert first["id"] != second["id"]
