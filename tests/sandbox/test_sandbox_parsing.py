"""Property tests: no create body or list query makes the parser fail other than with 400."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kitta_notebook.sandbox.envelope import ApiError
from kitta_notebook.sandbox.parsing import CreateRequest, parse_create, parse_list_query

FIELDS = ["model", "inputMode", "videoUrl", "imageUrl", "audioUrl", "referenceImageUrl"]
FIELDS += ["durationSeconds", "other"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "kitta-lip-sync-v1",
            "kitta-lip-sync-pro",
            "video",
            "image",
            "http://127.0.0.1:1/a.wav",
            "https://[::1]:443/x",
            "http://h:0/",
            "http://[::1/x",
        ]
    )
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)


@settings(max_examples=200, deadline=None, database=None)
@given(bodies)
def test_any_body_is_accepted_or_a_400(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    try:
        parsed = parse_create(raw)
    except ApiError as exc:
        assert exc.status == 400 and exc.code == "invalid_request"
    else:
        assert isinstance(parsed, CreateRequest)
        assert parsed.audio_url and (parsed.video_url or parsed.image_url)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.tuples(st.sampled_from(["limit", "offset", "status", "x"]), st.text())))
def test_any_list_query_is_accepted_or_a_400(params: list[tuple[str, str]]) -> None:
    try:
        query = parse_list_query(params)
    except ApiError as exc:
        assert exc.status == 400
    else:
        assert 1 <= query.limit <= 100 and query.offset >= 0
