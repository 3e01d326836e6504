"""The published OpenAPI document and the sandbox-only usage body."""

from __future__ import annotations

from typing import Any

import httpx

from kitta_notebook.sandbox import MODELS, PRICES, Sandbox
from tests.sandbox.sandbox_helpers import PRO, TASKS, V1


def _schema(sb: Sandbox) -> dict[str, Any]:
    response = httpx.get(f"{sb.base_url}/v1/openapi.json", timeout=10)  # public: no token
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_openapi_lists_the_models_as_an_enum(sandbox: Sandbox) -> None:
    doc = _schema(sandbox)
    assert doc["openapi"].startswith("3.")
    create = doc["components"]["schemas"]["CreateTaskRequest"]
    assert create["properties"]["model"]["enum"] == [V1, PRO] == list(MODELS)
    assert set(create["required"]) == {"model", "audioUrl"}
    body = doc["paths"][TASKS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"] == "#/components/schemas/CreateTaskRequest"


def test_openapi_paths_servers_and_security(sandbox: Sandbox) -> None:
    doc = _schema(sandbox)
    assert doc["servers"][0]["url"] == sandbox.base_url
    assert set(doc["paths"]) == {
        TASKS,
        f"{TASKS}/{{taskId}}",
        "/v1/usage",
        "/v1/openapi.json",
    }
    assert set(doc["paths"][TASKS]) == {"get", "post"}
    assert "202" in doc["paths"][TASKS]["post"]["responses"]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Kitta API token.",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["paths"]["/v1/openapi.json"]["get"]["security"] == []
    params = {p["name"] for p in doc["paths"][TASKS]["get"]["parameters"]}
    assert params == {"limit", "offset", "status"}
    assert "sandbox" in doc["info"]["description"].lower()
    for item in doc["paths"].values():
        for operation in item.values():
            assert "422" not in operation["responses"]  # the sandbox answers 400 instead
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_openapi_publishes_the_price_table(sandbox: Sandbox) -> None:
    pricing = _schema(sandbox)["info"]["x-kitta-sandbox-pricing"]
    for model, price in PRICES.items():
        assert pricing["models"][model]["creditsPerSecond"] == price.credits_per_second


def test_usage_body(sandbox: Sandbox, alice: httpx.Client, bob: httpx.Client) -> None:
    body = alice.get("/v1/usage").json()
    assert body["balance"] == sandbox.balance("alice-token")
    assert set(body["tasks"]) == {"pending", "processing", "succeeded", "failed"}
    assert isinstance(body["spent"], int)
    assert body["models"][PRO]["allowed"] is True
    assert bob.get("/v1/usage").json()["models"][PRO]["allowed"] is False
