"""End to end in the FiftyOne App: a real server on 127.0.0.1 and headless Chromium driven by Playwright.

Opens the operator browser, runs "FIQA: compute face quality" on 10 real LFW photographs (2 people) and checks
the new field in the database and in the App's sidebar (EDC and the Face quality panel, on 1,020 faces:
``test_fiftyone_panel_app.py``, which reuses this module's server fixture and helpers). Needs Chromium
(``/usr/bin/chromium``, or ``$FIQA_CHROMIUM``) and the ``playwright`` package (the ``test`` extra); no ``playwright install``.
Set ``FIQA_APP_SCREENSHOT=docs/figures/fiftyone_app_compute_quality.png`` to keep the screenshots
(that file and ``..._form.png``).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import fiftyone as fo

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
FIELD = "app_quality"


def _chromium() -> str:
    path = os.environ.get("FIQA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("Chromium not found: install it (Debian/Ubuntu: `apt-get install -y chromium`) "
                    "or set FIQA_CHROMIUM=/path/to/chromium")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def app_server(tmp_path):
    """``fiftyone.server.main`` on a free 127.0.0.1 port, on the test session's database and plugins folder."""
    fo.list_datasets()  # start this session's database first: the server then connects to it
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "fiftyone.server.main", "--port", str(port), "--address", "127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"the FiftyOne App server did not start: {(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _written(ds) -> bool:
    ds.reload()
    return ds.has_sample_field(FIELD) and ds.count(FIELD) == 10


def _run_operator(page, label: str, fields: dict, shot=None) -> None:
    """Open the operator browser, pick ``label``, fill text fields by their label, execute."""
    page.keyboard.press("`")
    page.get_by_placeholder("Search operations by name...").fill(label.split(": ", 1)[-1])
    page.get_by_text(label).first.click()
    for name, value in fields.items():
        page.get_by_text(name, exact=True).first.locator("xpath=following::input[1]").fill(value)
    if shot:
        page.screenshot(path=str(shot))
    page.get_by_role("button", name="Execute").click()


def test_compute_quality_from_the_app(app_server, lfw_people, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]' (Chromium comes from the system)")
    chromium = _chromium()
    ds = fo.Dataset("lfw-fiqa-app", overwrite=True)
    ds.persistent = True  # the server process must not clean it up as a leftover temporary dataset
    people = lfw_people[:5] + lfw_people[8:13]  # 5 photos each of two people
    ds.add_samples([fo.Sample(filepath=p, ground_truth=fo.Classification(label=y)) for p, y in people], progress=False)
    shot = tmp_path / "app.png"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(60_000)
                page.goto(f"{app_server}/datasets/{ds.name}", timeout=120_000)
                page.get_by_text("filepath", exact=True).first.wait_for()  # the sidebar has loaded
                _run_operator(page, "FIQA: compute face quality", {"Output field": FIELD}, tmp_path / "form.png")
                deadline = time.time() + 180
                while not _written(ds):
                    assert time.time() < deadline, "the operator did not write the field within 3 minutes"
                    time.sleep(1)
                page.get_by_text(FIELD, exact=True).first.wait_for(timeout=60_000)  # in the sidebar
                page.get_by_text("scored").first.wait_for()  # the operator's output dialog (counts)
                page.keyboard.press("Escape")
                page.get_by_role("dialog").first.wait_for(state="detached")
                dismiss = page.get_by_role("button", name="Dismiss")  # a promotional pop-up hides the grid
                if dismiss.count():
                    dismiss.first.click()
                # tick the field's sidebar checkbox: its values show on the grid
                page.get_by_text(FIELD, exact=True).first.locator(
                    "xpath=preceding::input[@type='checkbox'][1]").check(force=True)
                page.mouse.move(900, 700)
                page.wait_for_timeout(2000)
                page.screenshot(path=str(shot))

            finally:
                browser.close()
        assert ds.count(FIELD) == 10 and all(0.0 <= v <= 1.0 for v in ds.values(FIELD))
        assert ds.count("faces.detections") >= 6
        assert shot.stat().st_size > 10_000
        keep = os.environ.get("FIQA_APP_SCREENSHOT")
        if keep:  # <keep> (the App after the run) and <keep stem>_form.png (the operator's form)
            from PIL import Image

            keep = Path(keep)
            keep.parent.mkdir(parents=True, exist_ok=True)
            for src, dst in ((shot, keep), (tmp_path / "form.png", keep.with_name(f"{keep.stem}_form.png"))):
                # 256 colours: a third of the size, the same picture for a UI screenshot
                Image.open(src).convert("RGB").quantize(256).save(dst, optimize=True)
    finally:
        ds.delete()
