"""Hostile server data in a real JupyterLab + Chromium: nothing may run or be injected.

The notebook `hostile_render.ipynb` starts the reliability suite's hostile
server inside the kernel (127.0.0.1) and displays what it sends: a card per
hostile task (every string field is markup, result URLs are `javascript:`,
`data:text/html` ...), list pages (one of 10,000 items), unknown statuses, a
gallery, a live `watch()` view fed with hostile error envelopes, and one that
progresses to `succeeded`. Outputs run in the session are trusted, so
JupyterLab's sanitizer does not apply: our escaping is the only defence.

Checked in the DOM of every output: no `<script>`, `img[onerror]`, `iframe`,
`svg`, `object`/`embed`, `style`, `base`, form element, `details`, any inline
`on*` handler, `a[href^=javascript]`; every `src`/`href` is http(s) or
`data:video/mp4`; no JS dialog opened (`dialog_guard`); the payloads'
`window.__kittaPwned` marker is unset; and the hostile text is visible as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import run_all_cells, screenshot

pytestmark = pytest.mark.browser

# JupyterLab 4 detaches off-screen cells from the DOM by default; a DOM check must see all.
WINDOWING_OFF = {"windowingMode": "none"}
HOSTILE_SERVER = Path(__file__).resolve().parents[1] / "reliability" / "hostile_server.py"

_JS_INSPECT = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const outputs = [...panel.querySelectorAll('.jp-OutputArea-output')];
  const count = sel => outputs.reduce((n, o) => n + o.querySelectorAll(sel).length, 0);
  let handlers = 0;
  const urls = [];
  for (const out of outputs) {
    for (const el of out.querySelectorAll('*')) {
      for (const attr of el.attributes) {
        const name = attr.name.toLowerCase();
        if (name.startsWith('on')) handlers++;
        if (['src', 'href', 'action', 'formaction', 'poster', 'data', 'xlink:href'].includes(name))
          urls.push(attr.value);
      }
    }
  }
  const safe = /^(https?:\\/\\/|data:video\\/mp4;base64,)/;
  return {
    outputs: outputs.length,
    script: count('script'),
    imgOnerror: count('img[onerror]'),
    img: count('img'),
    iframe: count('iframe, frame, frameset'),
    svg: count('svg, math'),
    svgOnload: count('svg[onload]'),
    object: count('object, embed, applet'),
    style: count('style, link, meta, base'),
    form: count('form, input, button, textarea, select'),
    details: count('details, marquee, noscript'),
    jsHref: count('a[href^="javascript" i], [src^="javascript" i]'),
    handlers: handlers,
    unsafeUrls: urls.filter(u => !safe.test(u)),
    urls: urls.length,
    pwned: window.__kittaPwned === undefined ? null : String(window.__kittaPwned),
    cards: count('.kitta-task'),
    pages: count('.kitta-page'),
    gallery: count('.kitta-gallery'),
    rows: count('.kitta-page tbody tr'),
    videos: count('video'),
    succeeded: count('.kitta-badge[data-status="succeeded"]'),
    text: panel.innerText,
  };
}"""


@pytest.fixture(scope="module")
def jupyter_lab(lab_factory: Any) -> Any:
    """A lab that keeps every cell in the DOM (no windowing), so every output is inspected."""
    lab = lab_factory(
        settings={"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": WINDOWING_OFF}
    )
    yield lab
    lab.stop()


def test_hostile_server_data_renders_inert_in_jupyterlab(
    open_notebook: Any, dialog_guard: Any, console_errors: list[str], tmp_path: Path
) -> None:
    page = open_notebook("hostile_render.ipynb", files={"hostile_server.py": HOSTILE_SERVER})
    states = run_all_cells(page, timeout_ms=120_000)
    assert all(s["executionCount"] for s in states if s["type"] == "code" and not s["empty"])
    found = page.evaluate(_JS_INSPECT)
    screenshot(page, tmp_path / "hostile.png")
    text = found.pop("text")
    injected = {
        key: found[key]
        for key in (
            "script",
            "imgOnerror",
            "img",
            "iframe",
            "svg",
            "svgOnload",
            "object",
            "style",
            "form",
            "details",
            "jsHref",
            "handlers",
        )
        if found[key]
    }
    assert injected == {}, f"injected elements in the outputs: {injected}"
    assert found["unsafeUrls"] == [], found["unsafeUrls"][:10]
    assert found["pwned"] is None, "a hostile payload ran"
    # What was shown: the views really rendered, hostile text visible as text.
    assert found["cards"] >= 20 and found["pages"] >= 3 and found["gallery"] == 1, found
    assert found["rows"] <= 100 + 20 + 12, "the 10,000-item page must render a bounded table"
    assert found["succeeded"] >= 1, "the live watch() view never reached succeeded"
    assert "<script>alert('kitta-xss-1')" in text
    assert "9,900 more" in text
    assert "hostile-render-done" in text
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
    try:
        from tests.reliability.reliability_helpers import FIGURES
    except ImportError:  # run without the reliability suite on the path
        return
    FIGURES.add("browser", "notebook outputs inspected in Chromium", found["outputs"])
    FIGURES.add("browser", "task cards rendered", found["cards"])
    FIGURES.add("browser", "src/href URLs checked in the DOM", found["urls"])
    FIGURES.add("browser", "injected elements/handlers/URLs found", len(injected))
    FIGURES.add("browser", "JS dialogs opened found", len(dialog_guard.dialogs))


def test_the_inspection_catches_planted_markup(open_notebook: Any) -> None:
    """Control: unescaped markup in an output is found (and its handler really runs)."""
    from tests.browser.lab import poll

    page = open_notebook("hostile_control.ipynb")
    run_all_cells(page)
    poll(
        lambda: page.evaluate("() => window.__kittaPwned === 'control'"),
        timeout=10,
        message="the planted onerror handler did not run",
    )
    found = page.evaluate(_JS_INSPECT)
    assert found["imgOnerror"] == 1 and found["handlers"] == 2 and found["jsHref"] == 1, found
    assert found["pwned"] == "control"
    assert "javascript:void(0)" in found["unsafeUrls"]  # (JupyterLab resolves src="x")
