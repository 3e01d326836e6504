"""The README's batch snippet, run as written against the sandbox: every card keeps its
key and labels through `create_many` → `wait_many(results.tasks)` → gallery and export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook.batch import BatchResult, TaskList
from kitta_notebook.sandbox import Sandbox
from tests.batch.batch_helpers import RICH

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_batch_snippet() -> str:
    """The first python block of the README's "Batches" section."""
    section = README.read_text(encoding="utf-8").split("### Batches", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the README's Batches section has no python block"
    return found.group(1)


def test_the_readme_batch_snippet_keeps_keys_and_labels_to_gallery_and_export(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the snippet writes "report/"
    media = sandbox.samples
    tracks = {"en": media["audio"], "zh": media["audio_zh"], "ja": media["audio"]}
    with sandbox.client(RICH) as client:
        scope: dict[str, Any] = {"client": client, "clip": media["video"], "tracks": tracks}
        exec(readme_batch_snippet(), scope)
        results, done = scope["results"], scope["done"]
        assert isinstance(results, BatchResult) and isinstance(done, TaskList)

        names = {t: (tags.key, tags.labels) for t, tags in done.tags.items()}
        assert sorted(names.values()) == sorted((f"promo-{x}", (x,)) for x in tracks)
        assert [t.task_id for t in done] == [t.task_id for t in results.tasks]
        for view in (done.gallery(embed=False), results.gallery(embed=False)):
            html = view.to_html()
            for lang in tracks:
                assert f">promo-{lang}<" in html and f">{lang}<" in html
            assert len(re.findall(r"kitta-gallery-card", html)) == len(tracks)

        report = done.export(tmp_path / "done-report", posters=False)
        rows = json.loads(report.manifest_json.read_text(encoding="utf-8"))["tasks"]
        assert sorted((r["key"], tuple(r["labels"])) for r in rows) == sorted(
            (f"promo-{x}", (x,)) for x in tracks
        )
    assert (tmp_path / "report" / "index.html").is_file()  # the snippet's own export
