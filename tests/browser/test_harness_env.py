"""A test module can start its own JupyterLab with its own kernel environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.browser.lab import cell_text, output_area, run_all_cells

pytestmark = pytest.mark.browser

SANDBOX_URL = "http://127.0.0.1:9/sandbox"


@pytest.fixture(scope="module")
def jupyter_lab(lab_factory, monkeypatch_module):
    """Overrides the session lab for this module: kernels see this env."""
    # A token in the test runner's environment must not reach the kernel.
    monkeypatch_module.setenv("KITTA_API_TOKEN", "must-not-leak")
    lab = lab_factory(env={"KITTA_BASE_URL": SANDBOX_URL, "HARNESS_MARK": "on"})
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_kernel_sees_lab_env(open_notebook, jupyter_lab):
    page = open_notebook("harness_env.ipynb")
    run_all_cells(page)
    seen = json.loads(cell_text(page, 0))
    # The same text is rendered in the cell's output area.
    assert SANDBOX_URL in output_area(page, 0).inner_text(timeout=10_000)
    assert seen["env"] == {
        "KITTA_API_TOKEN": None,
        "KITTA_BASE_URL": SANDBOX_URL,
        "HARNESS_MARK": "on",
    }
    assert Path(seen["executable"]).resolve() == Path(sys.executable).resolve()
    assert seen["finds_kitta_notebook"]
    assert Path(seen["jupyter_config_dir"]).is_relative_to(jupyter_lab.base_dir)
