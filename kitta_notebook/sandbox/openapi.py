"""The OpenAPI document the sandbox publishes at ``/api/v1/openapi.json``.

Paths are written relative to the API base (``/v1/...``) with ``servers`` set to
``<origin>/api``, mirroring the contract's base ``https://kittaaudio.com/api``.
Response shapes come from pydantic models (the task DTO's from ``dto``, which
also builds the routes' JSON); the create body is written out so that the model
ids appear as an enum. Sandbox-only routes (``/_sandbox/...``) are not listed.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, create_model

from .dto import TaskDTO, TaskListItem
from .envelope import ERROR_CODES
from .pricing import DEFAULT_MODEL, MAX_DURATION_SECONDS, MODELS, PRICES, pricing_document
from .samples import load_samples
from .store import STATUSES

__all__ = ["TaskDTO", "TaskList", "Usage", "build_openapi", "error_responses"]

DESCRIPTION = """\
**Kitta lip-sync API — local sandbox.** Implements the public contract of the
Kitta lip-sync API (create a task, list tasks, get one task) so that a client
cannot tell it from the real service, except that result videos are not
lip-synced: they carry the source frames, the new audio and a burned-in
"SANDBOX" mark.

Sandbox choices where the contract is silent: the task list is newest first;
`GET /v1/usage` has a sandbox-only shape; error codes other than
`invalid_request` are the sandbox's own (see `x-kitta-sandbox-error-codes`);
credits follow `info.x-kitta-sandbox-pricing` and are reconciled to the measured
audio when a task finishes (failed tasks are refunded).

Prices: {prices}.
"""


class Pagination(BaseModel):
    limit: int
    offset: int
    hasMore: bool


_ITEMS: Any = list[TaskListItem]  # type: ignore[valid-type]
TaskList: type[BaseModel] = create_model(
    "TaskList", data=(_ITEMS, ...), pagination=(Pagination, ...)
)


class ErrorBody(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str
    requestId: str = Field(examples=["req_4f0c2d9a1b7e6c5d3a2f1e0d"])


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class TaskCounts(BaseModel):
    pending: int
    processing: int
    succeeded: int
    failed: int


class Usage(BaseModel):
    """Sandbox-only shape: the contract does not document this body."""

    balance: int
    spent: int = Field(description="Sum of creditsCharged over the account's tasks.")
    tasks: TaskCounts
    models: dict[str, Any] = Field(description="Price and access of each model for this account.")
    sandbox: bool = True


_ERROR_TEXT = {
    400: "Invalid request (missing or malformed field, unsupported model, bad query).",
    401: "API token missing or invalid.",
    402: "Insufficient credits; nothing was created or charged.",
    403: "This account may not use the requested model.",
    404: "No such task for this account.",
    429: "Rate limited (only when the sandbox injects it); see Retry-After.",
    500: "Server error.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` entries for the given error statuses."""
    return {s: {"model": ErrorEnvelope, "description": _ERROR_TEXT[s]} for s in statuses}


def _create_request_schema() -> dict[str, Any]:
    url = {"type": "string", "format": "uri"}
    return {
        "type": "object",
        "required": ["model", "audioUrl"],
        "description": "At least one of videoUrl / imageUrl; the one matching inputMode.",
        "properties": {
            "model": {"type": "string", "enum": list(MODELS), "examples": [DEFAULT_MODEL]},
            "inputMode": {"type": "string", "enum": ["video", "image"], "default": "video"},
            "videoUrl": {**url, "description": "Source video (inputMode=video)."},
            "imageUrl": {**url, "description": "Person image (inputMode=image)."},
            "audioUrl": {**url, "description": "The audio that drives the mouth."},
            "referenceImageUrl": {**url, "description": "Reference image (inputMode=image)."},
            "durationSeconds": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": MAX_DURATION_SECONDS,
                "description": "Estimated audio duration, used to price the task at creation.",
            },
        },
    }


def _list_parameters() -> list[dict[str, Any]]:
    return [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
    ]


CREATE_EXTRA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CreateTaskRequest"}}
        },
    }
}
LIST_EXTRA: dict[str, Any] = {"parameters": _list_parameters()}


def samples_document(origin: str) -> dict[str, dict[str, Any]]:
    """The sample media as served here, with durations: what `sample_media()` offers."""
    samples = load_samples()
    listed: dict[str, dict[str, Any]] = {}
    for key, file in samples.files.items():
        entry: dict[str, Any] = {"url": f"{origin}/samples/{file}"}
        if key in samples.durations:
            entry["durationSeconds"] = samples.durations[key]
        listed[key] = entry
    listed["missing"] = {"url": f"{origin}/samples/missing.mp4"}  # a 404, on purpose
    return listed


def build_openapi(app: FastAPI, origin: str, *, publish_prices: bool = True) -> dict[str, Any]:
    """The document for a sandbox reached at ``origin`` (``http://host:port``); without
    ``publish_prices`` it names no price, like the real service's."""
    prices = ", ".join(f"`{p.model}` {p.credits_per_second} credits/s" for p in PRICES.values())
    if not publish_prices:
        prices = "not published (like the real service); see each task's creditsCharged"
    doc = get_openapi(
        title="Kitta lip-sync API (sandbox)",
        version="1.0.0-sandbox",
        description=DESCRIPTION.format(prices=prices),
        routes=app.routes,
    )
    doc["servers"] = [{"url": f"{origin}/api", "description": "this sandbox"}]
    doc["paths"] = {
        path.removeprefix("/api"): item
        for path, item in doc.get("paths", {}).items()
        if path.startswith("/api/")
    }
    for item in doc["paths"].values():  # the sandbox never answers 422 (it is a 400)
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
    components = doc.setdefault("components", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    components.setdefault("schemas", {})["CreateTaskRequest"] = _create_request_schema()
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Kitta API token."}
    }
    doc["security"] = [{"bearerAuth": []}]
    for path, item in doc["paths"].items():
        if path.endswith("/openapi.json"):
            for operation in item.values():
                operation["security"] = []
    doc["info"]["x-kitta-sandbox"] = True
    if publish_prices:
        doc["info"]["x-kitta-sandbox-pricing"] = pricing_document()
    # Sandbox only, not part of the Kitta API: PUT/HEAD/GET <this>/<sha256>.<ext>.
    doc["info"]["x-kitta-sandbox-media-store"] = f"{origin}/_sandbox/media"
    doc["info"]["x-kitta-sandbox-samples"] = samples_document(origin)
    doc["x-kitta-models"] = list(MODELS)
    doc["x-kitta-sandbox-error-codes"] = {str(k): v for k, v in ERROR_CODES.items()}
    return doc
