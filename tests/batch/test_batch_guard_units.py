"""The I/O-free halves of a checked batch: the credit rule, the running budget, the
balance note, and reading each local source once."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from kitta_notebook import KittaClient, ValidationError
from kitta_notebook.batch import BatchValidationError, CreditLimitError
from kitta_notebook.batch.gate import (
    CreditBudget,
    balance_warning,
    check_max_credits,
    refuse_over_limit,
    total_estimate,
)
from kitta_notebook.batch.plan import PreparedItem, SourceReader
from kitta_notebook.price import price_for
from kitta_notebook.sandbox.samples import SAMPLES_DIR
from kitta_notebook.server_info import ServerInfo
from kitta_notebook.validation import validate_create

PRICED = ServerInfo(credits_per_second={"kitta-lip-sync-v1": 100.0}, minimum_billed_seconds=1.0)
PRICES = {"kitta-lip-sync-v1": price_for(PRICED, "kitta-lip-sync-v1")}
REQUEST = validate_create(
    audio_url="https://m.example.com/a.wav", video_url="https://m.example.com/v.mp4"
)


def item(index: int, estimate: int | None, *, known: str | None = None) -> PreparedItem:
    return PreparedItem(
        index, None, None if known else REQUEST, known_task_id=known, estimate=estimate
    )


def test_max_credits_takes_none_or_a_number_of_credits() -> None:
    assert check_max_credits(None) is None and check_max_credits(0) == 0
    assert check_max_credits(12.5) == 12.5
    for bad in (-1, True, "100", float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="max_credits"):
            check_max_credits(bad)


def test_a_limit_is_refused_when_the_price_is_not_published() -> None:
    items = [item(0, None), item(1, None)]
    unpriced = {"kitta-lip-sync-v1": price_for(ServerInfo(), "kitta-lip-sync-v1")}
    refuse_over_limit(items, None, unpriced)  # no limit: nothing to check
    with pytest.raises(CreditLimitError) as caught:
        refuse_over_limit(items, 1000, unpriced)
    message = str(caught.value)
    assert "publishes no price" in message and "max_credits=None" in message
    assert "requests[0], requests[1]" in message and "Nothing was sent" in message


def test_a_limit_is_refused_when_an_items_length_is_unknown() -> None:
    with pytest.raises(CreditLimitError, match=r"requests\[1\].*duration_seconds"):
        refuse_over_limit([item(0, 100), item(1, None)], 1000, PRICES)


def test_items_whose_key_has_a_task_cost_nothing() -> None:
    items = [item(0, 100), item(1, None, known="lip_task_1"), item(2, 100)]
    assert total_estimate(items) == 200
    refuse_over_limit(items, 200, PRICES)
    with pytest.raises(CreditLimitError, match="estimated at 200 credits"):
        refuse_over_limit(items, 199, PRICES)


def test_the_budget_stops_at_the_first_item_that_would_pass_the_limit() -> None:
    budget = CreditBudget(250)
    first, second, third = item(0, 100), item(1, 200), item(2, 10)
    assert budget.turn(first) == "send"
    assert budget.turn(second) == "stop"  # 100 + 200 > 250
    assert budget.turn(third) == "stop"  # it would fit, but sending stopped
    assert budget.stopped is not None and "max_credits reached" in budget.stopped


def test_a_refused_create_frees_its_reservation_and_a_dearer_charge_is_learnt() -> None:
    budget = CreditBudget(500)
    first, second, third = item(0, 100), item(1, 100), item(2, 100)
    assert budget.turn(first) == "send"
    budget.settled(first, "rejected")  # refused: nothing charged
    assert budget.turn(second) == "send"
    budget.charged(second, 300)  # the server charged 3× the estimate
    assert budget.turn(third) == "stop"  # 300 + 3 × 100 > 500
    assert "300 credits charged" in (budget.stopped or "")


def test_without_a_limit_the_budget_never_stops() -> None:
    budget = CreditBudget(None)
    assert all(budget.turn(item(i, None)) == "send" for i in range(100))
    assert budget.stopped is None


def test_the_balance_note_only_when_a_balance_is_reported_and_short() -> None:
    assert balance_warning({"balance": 150}, 300) is not None
    assert balance_warning({"balance": 300}, 300) is None
    assert balance_warning({"credits": 1}, 300) is None  # a shape without a balance
    assert balance_warning({"balance": True}, 300) is None
    assert balance_warning(None, 300) is None and balance_warning({"balance": 1}, None) is None


def test_each_local_source_is_read_once_per_batch(tmp_path: Path) -> None:
    reader = SourceReader()
    path = tmp_path / "dub.wav"
    path.write_bytes(b"RIFF" + bytes(100))
    handle = io.BytesIO(b"ID3" + bytes(50))
    first = reader.read({"audio_url": path, "video_url": handle})
    again = reader.read({"audio_url": str(path), "video_url": handle})  # a file object read once
    assert first["audio_url"] is again["audio_url"]
    assert first["video_url"] is again["video_url"] and again["video_url"].size == 53
    url = "https://m.example.com/v.mp4"
    assert reader.read({"video_url": url})["video_url"] == url


def _real_service(sent: list[httpx.Request]) -> KittaClient:
    """The real service's behaviour the sandbox cannot show: no published schema or price."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    return KittaClient("tok-real", http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_against_the_real_service_a_limit_cannot_be_checked_and_nothing_is_sent() -> None:
    sent: list[httpx.Request] = []
    batch = [{"audio_url": "https://m.example.com/a.wav", "video_url": "https://m.example.com/v.mp4",
              "duration_seconds": 3}]  # fmt: skip
    with _real_service(sent) as client, pytest.raises(CreditLimitError, match="publishes no price"):
        client.lip_sync.create_many(batch, progress=False, preflight=False, max_credits=10_000)
    assert [r.method for r in sent] == ["GET"]  # asked for the price; no create


def test_against_the_real_service_local_files_without_a_store_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KITTA_MEDIA_STORE", raising=False)
    dub = tmp_path / "dub.wav"
    dub.write_bytes(SAMPLES_DIR.joinpath("speech-en.wav").read_bytes())
    sent: list[httpx.Request] = []
    batch = [{"audio_url": dub, "video_url": "https://m.example.com/v.mp4"}]
    with _real_service(sent) as client, pytest.raises(BatchValidationError) as caught:
        client.lip_sync.create_many(batch, progress=False, preflight=False)
    assert "KITTA_MEDIA_STORE" in str(caught.value) and "requests[0].audio_url" in str(caught.value)
    assert all(r.method == "GET" for r in sent)  # no create, no upload
