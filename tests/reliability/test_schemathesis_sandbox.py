"""Schema-driven fuzzing of the sandbox from its own `/api/v1/openapi.json` (schemathesis).

Over real HTTP against a `Sandbox()` on 127.0.0.1, for every operation:

* positive and negative (schema-violating) examples: never a 5xx; responses
  match the documented status codes, content types and schemas; schema-invalid
  input is refused with a 4xx;
* every API route except the public schema answers 401 without a token, and
  with a wrong one.

Media URLs in generated bodies are pointed at the sandbox's own samples, and
the sandbox's media fetcher refuses anything not on loopback: no traffic leaves
the machine. Bounded (`EXAMPLES` per operation and mode); `benchmarks/soak.py
--schemathesis N` runs more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings

import kitta_notebook.sandbox.media as sandbox_media
from kitta_notebook.sandbox import Sandbox
from tests.reliability.reliability_helpers import FIGURES

schemathesis = pytest.importorskip("schemathesis")
checks = pytest.importorskip("schemathesis.checks")
from schemathesis import GenerationMode  # noqa: E402

pytestmark = pytest.mark.slow

TOKEN = "schemathesis-token"
EXAMPLES = 25
URL_FIELDS = {
    "videoUrl": "video",
    "imageUrl": "image",
    "audioUrl": "audio",
    "referenceImageUrl": "reference_image",
}


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.cases = 0
        self.outside: list[str] = []
        self.server_errors: list[str] = []


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Sandbox, Tally]]:
    tally = Tally()
    original = sandbox_media.Fetcher.fetch

    def loopback_only(self: Any, field: str, url: str, dest: Any) -> Any:
        host = (urlsplit(url).hostname or "").lower()
        if host not in ("127.0.0.1", "localhost", "::1"):
            tally.outside.append(url)
            raise sandbox_media.MediaError("media_unreachable", "test: loopback only")
        return original(self, field, url, dest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox_media.Fetcher, "fetch", loopback_only)
        with Sandbox({TOKEN: 10**12}, time_scale=0.02, pro_tokens=[TOKEN]) as sb:
            yield sb, tally
    FIGURES.add("schemathesis", "media fetches the sandbox tried outside loopback", 0)
    assert tally.outside == [], tally.outside[:5]


def local_media(body: object, samples: dict[str, str]) -> object:
    """A generated body with every fetchable URL pointed at the sandbox's samples."""
    if not isinstance(body, dict):
        return body
    fixed = dict(body)
    for name, sample in URL_FIELDS.items():
        value = fixed.get(name)
        if isinstance(value, str):
            try:
                parts = urlsplit(value.strip())
                fetchable = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:
                fetchable = False
            if fetchable:
                fixed[name] = samples[sample]
    return fixed


def operations(sb: Sandbox) -> list[Any]:
    schema = schemathesis.openapi.from_url(sb.openapi_url)
    return [result.ok() for result in schema.get_all_operations()]


LIST_PARAMS = {
    "limit": lambda v: v.isascii() and v.isdigit() and 1 <= int(v) <= 100,
    "offset": lambda v: v.isascii() and v.isdigit(),
    "status": lambda v: v in ("pending", "processing", "succeeded", "failed"),
}


def violates_contract(case: Any, create_schema: dict[str, Any]) -> bool:
    """True when the case's create body or list query breaks the documented schema.

    Unknown query parameters and extra body fields are allowed (the sandbox
    ignores them, for forward compatibility), so schemathesis's own
    negative-data check is too strict here; this is the documented part.
    """
    if case.method.upper() == "POST" and case.path == "/v1/lip-sync/tasks":
        validator = jsonschema.validators.validator_for(create_schema)(create_schema)
        return not validator.is_valid(case.body)
    if case.method.upper() == "GET" and case.path == "/v1/lip-sync/tasks":
        for name, ok in LIST_PARAMS.items():
            value = (case.query or {}).get(name)
            if isinstance(value, list):  # a repeated parameter: the last one wins
                value = value[-1] if value else None
            if value is not None and not ok(str(value)):
                return True
    return False


RESPONSE_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def fuzz_operation(
    sb: Sandbox, tally: Tally, op: Any, mode: GenerationMode, create_schema: dict[str, Any]
) -> None:
    """`EXAMPLES` generated cases of one operation: conformance, no 5xx, invalid refused."""
    auth = {"Authorization": f"Bearer {TOKEN}"}

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.body = local_media(case.body, sb.samples)
        response = case.call(headers=auth, timeout=30)
        tally.cases += 1
        tally.statuses[response.status_code] += 1
        if response.status_code >= 500:
            tally.server_errors.append(
                f"{case.method} {case.path} {case.query} {case.body!r:.300}"
                f" -> {response.status_code} {response.text[:200]}"
            )
        FIGURES.add("schemathesis", f"{mode.value} cases sent", 1)
        FIGURES.add("schemathesis", "5xx responses found", response.status_code >= 500)
        case.validate_response(response, checks=RESPONSE_CHECKS, headers=auth)
        if mode == GenerationMode.NEGATIVE and violates_contract(case, create_schema):
            accepted = response.status_code < 400
            FIGURES.add("schemathesis", "schema-invalid bodies/queries", 1)
            FIGURES.add("schemathesis", "schema-invalid input accepted (found)", accepted)
            assert not accepted, (case.method, case.path, case.query, case.body)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_and_never_5xx(
    sandbox: tuple[Sandbox, Tally], mode: GenerationMode
) -> None:
    sb, tally = sandbox
    ops = operations(sb)
    assert {(op.method.upper(), op.path) for op in ops} >= {
        ("POST", "/v1/lip-sync/tasks"),
        ("GET", "/v1/lip-sync/tasks"),
        ("GET", "/v1/lip-sync/tasks/{taskId}"),
        ("GET", "/v1/usage"),
    }
    create_schema = ops[0].schema.raw_schema["components"]["schemas"]["CreateTaskRequest"]
    for op in ops:
        fuzz_operation(sb, tally, op, mode, create_schema)
        FIGURES.add("schemathesis", f"{mode.value}: operations fuzzed", 1)
    assert not tally.server_errors, tally.server_errors[:5]


def check_auth(sb: Sandbox, op: Any) -> None:
    """Without a token, with a wrong one, and without "Bearer": 401 (the schema is public)."""
    public = op.path.endswith("/openapi.json")

    @given(case=op.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.body = local_media(case.body, sb.samples)
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
            case.headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
            response = case.call(headers=headers, timeout=30)
            FIGURES.add("schemathesis", "requests without a valid token", 1)
            if public:
                assert response.status_code == 200
                continue
            unauthorized_ok = response.status_code != 401
            FIGURES.add("schemathesis", "unauthenticated requests accepted", unauthorized_ok)
            assert response.status_code == 401, (op.label, headers, response.status_code)
            assert response.json()["error"]["requestId"]

    run()


def test_auth_is_enforced_on_every_api_route(sandbox: tuple[Sandbox, Tally]) -> None:
    sb, _ = sandbox
    for op in operations(sb):
        check_auth(sb, op)
        FIGURES.add("schemathesis", "operations checked for auth", 1)
