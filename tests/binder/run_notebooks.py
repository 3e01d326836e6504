"""Run inside the Binder venv (not the project's): execute every notebook, check the app.

Usage: python run_notebooks.py REPO_COPY REPORT.json [--notebooks-only]

Imports only what binder/requirements.txt installs (with --notebooks-only, only
nbclient: tests/packaging runs it in a venv of the wheel, its [sandbox] extra
and ipykernel + nbclient, to show every notebook runs on the base install). For each notebook in
REPO_COPY/notebooks it runs nbclient in a fresh kernel of this interpreter
(the kernel Binder would start) and records errors and timings. Then it
starts `jupyter server` from this venv, as Binder does, and fetches the Voila
app (`/voila/render/notebooks/02_panel.ipynb`) and the lab page, which is
what Binder's `?urlpath=` links open.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELL_TIMEOUT = 180
SERVER_TIMEOUT = 60.0
VOILA_PAGE_TIMEOUT = 180.0


def run_notebook(path: Path) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="binder-nb-"))
    notebook = nbformat.read(path, as_version=4)
    started = time.monotonic()
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    failure = None
    try:
        client.execute()
    except Exception as exc:  # a cell error or timeout: reported with the outputs
        failure = f"{type(exc).__name__}: {str(exc)[-2000:]}"
    errors = [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    outputs = sum(len(cell.get("outputs", [])) for cell in notebook.cells)
    stdout = "".join(
        o.get("text", "")
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "seconds": round(time.monotonic() - started, 1),
        "failure": failure,
        "errors": errors,
        "outputs": outputs,
        "stdout": stdout[-20_000:],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def check_server(repo: Path) -> dict[str, object]:
    """`jupyter server` from this venv: the lab page and the Voila app answer."""
    port, token = free_port(), secrets.token_hex(16)
    log = Path(tempfile.mkdtemp(prefix="binder-server-")) / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "server",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={repo}",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            cmd, cwd=repo, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    result: dict[str, object] = {}
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while True:
            try:
                status, _ = fetch(f"{base}/api/status?token={token}", 2)
                if status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                result["server_error"] = log.read_text(errors="replace")[-3000:]
                return result
            time.sleep(0.3)
        status, body = fetch(f"{base}/lab/tree/notebooks/01_quickstart.ipynb?token={token}", 30)
        result["lab_status"] = status
        result["lab_is_jupyterlab"] = "JupyterLab" in body
        started = time.monotonic()
        status, body = fetch(
            f"{base}/voila/render/notebooks/02_panel.ipynb?token={token}", VOILA_PAGE_TIMEOUT
        )
        result["voila_seconds"] = round(time.monotonic() - started, 1)
        result["voila_status"] = status
        result["voila_has_widget"] = "application/vnd.jupyter.widget-view+json" in body
        result["voila_has_error"] = any(
            marker in body for marker in ('"output_type": "error"', "Traceback (most recent")
        )
        result["voila_shows_prose"] = "What you will do" in body
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        result["server_log_tail"] = log.read_text(errors="replace")[-2000:]
    return result


def main() -> None:
    repo, report_path = Path(sys.argv[1]), Path(sys.argv[2])
    report: dict[str, object] = {"python": sys.version, "executable": sys.executable}
    notebooks = {}
    for path in sorted((repo / "notebooks").glob("*.ipynb")):
        notebooks[path.name] = run_notebook(path)
        summary = {k: v for k, v in notebooks[path.name].items() if k != "stdout"}
        print(path.name, summary, flush=True)
    report["notebooks"] = notebooks
    if "--notebooks-only" not in sys.argv[3:]:
        report["server"] = check_server(repo)
    report["env"] = {k: v for k, v in os.environ.items() if k.startswith("KITTA_")}
    report_path.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
