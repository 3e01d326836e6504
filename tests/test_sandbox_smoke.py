"""The fast tier's one sandbox test: `scripts/sandbox_smoke.py`, in this process.

A sandbox task end to end over real HTTP on 127.0.0.1: create, wait, download,
ffmpeg decodes the whole MP4, the OpenAPI document, the panel and Compare built.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sandbox_smoke.py"


@pytest.mark.smoke
def test_a_sandbox_task_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("sandbox_smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)

    assert smoke.main() == 0
    assert capsys.readouterr().out.startswith("sandbox smoke: ok")
