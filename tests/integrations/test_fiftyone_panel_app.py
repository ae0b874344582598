"""The Face quality panel in the real App (headless Chromium, Playwright), on 1,020 LFW faces of 34 people.

Every face is scored from the operator browser (the default method; nothing is pre-computed); the panel's
"Evaluate EDC" button runs the evaluate_edc operator (pairs sampled from the identities: 3,000 genuine,
30,000 impostor; some genuine pairs fail at FMR 1e-3, so the curve is not flat at zero); a second stored
run (the detector's confidence of each sample's best face, read from the faces the operator stored) is
added headless; then the panel shows both runs on one figure, and moving its slider changes the App's
sample count to the number of samples at or above the threshold (checked against the database). About
3 minutes on a loaded 2-core machine, most of it embedding the 1,020 faces for the EDC. Set
``FIQA_PANEL_SCREENSHOTS=docs/figures`` to keep the screenshots (``fiftyone_edc.png``,
``fiftyone_panel.png``, ``fiftyone_panel_edc.png``).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

import fiftyone as fo

from fiqa_plugin.integrations.fiftyone_eval import evaluate_edc, load_edc
import test_fiftyone_app as app_test

app_server = app_test.app_server  # the same App-server fixture (the tests' folder is on sys.path under pytest)

pytestmark = pytest.mark.browser

FIELD = "quality"
#: LFW people with at least this many photographs, this many each (sorted): 34 people, 1,020 faces.
MIN_PHOTOS = PER_PERSON = 30
#: full HD: the panel beside the grid is wide enough for its tables
VIEWPORT = {"width": 1920, "height": 1080}


def _lfw_identities(shared) -> list:
    root = shared / "data" / "lfw" / "images"
    people = sorted(p for p in root.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= MIN_PHOTOS)
    out = [(str(f), p.name) for p in people for f in sorted(p.glob("*.jpg"))[:PER_PERSON]]
    assert len(out) >= 1000, f"expected 1,020 LFW faces of 34 people under {root}, found {len(out)}: restore shared/data/lfw"
    return out


def _count(page) -> int:
    """The App's sample count (the grid's "N samples")."""
    text = page.locator("[data-cy='entry-counts']").inner_text()
    return int(re.sub(r"[^\d]", "", text.split("sample")[0].split("of")[0]))


def _done(ds, n: int) -> bool:
    """Every sample has a quality or an error (the operator saves per batch)."""
    ds.reload()
    err = f"{FIELD}_error"
    return ds.has_sample_field(err) and ds.count(FIELD) + ds.count(err) == n


def _wait(cond, what: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(1)


def test_face_quality_panel(app_server, shared, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]' (Chromium comes from the system)")
    chromium = app_test._chromium()
    faces = _lfw_identities(shared)
    n = len(faces)
    ds = fo.Dataset("lfw-fiqa-panel", overwrite=True)
    ds.persistent = True  # the server process must not clean it up as a leftover temporary dataset
    ds.add_samples([fo.Sample(filepath=p, ground_truth=fo.Classification(label=y)) for p, y in faces], progress=False)
    shots = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=app_test.CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(60_000)
                page.goto(f"{app_server}/datasets/{ds.name}", timeout=120_000)
                page.get_by_text("filepath", exact=True).first.wait_for()
                dismiss = page.get_by_role("button", name="Dismiss")  # a promotional pop-up hides the grid
                if dismiss.count():
                    dismiss.first.click()

                app_test._run_operator(page, "FIQA: compute face quality", {"Output field": FIELD})
                _wait(lambda: _done(ds, n), f"the operator did not score the {n} samples", 900)
                page.get_by_text("scored").first.wait_for()  # the operator's output dialog
                page.keyboard.press("Escape")
                page.get_by_role("dialog").first.wait_for(state="detached")

                # a second stored method without scoring again: the detector's confidence of the best face
                ids, dets = ds.values(["id", "faces.detections.confidence"])
                ds.set_values("det_confidence", {i: max(c) if c else None for i, c in zip(ids, dets)}, key_field="id")

                page.locator("[data-cy='new-panel-btn']").first.click()
                page.get_by_text("Face quality", exact=True).first.click()
                panel = page.locator("[data-cy='panel-content-face_quality_panel']")
                panel.get_by_text("at or above").first.wait_for()

                # EDC of the new field from the panel's button: the evaluate_edc form, then its output
                panel.get_by_role("button", name=f"Evaluate EDC of {FIELD} by ground_truth").click()
                page.get_by_role("button", name="Execute").click()
                page.get_by_role("dialog").locator(".js-plotly-plot").first.wait_for(timeout=900_000)
                page.set_viewport_size({"width": VIEWPORT["width"], "height": 1500})  # the whole output dialog
                page.wait_for_timeout(2000)
                shots["edc"] = tmp_path / "edc.png"
                page.screenshot(path=str(shots["edc"]))
                page.set_viewport_size(VIEWPORT)
                page.keyboard.press("Escape")
                page.get_by_role("dialog").first.wait_for(state="detached")
                ds.reload()
                # enough pairs for a curve that is not flat at zero: some genuine pairs fail at FMR 1e-3
                assert load_edc(ds, f"edc_{FIELD}")["edc"]["0.001"]["fnmr_at_0_discard"] > 0
                evaluate_edc(ds, "det_confidence", identity_field="ground_truth", eval_key="edc_det_confidence")

                panel.get_by_role("button", name="Refresh").click()
                panel.get_by_text("edc_det_confidence").first.wait_for()
                before = _count(page)
                assert before == n
                slider = panel.locator(".MuiSlider-root").first
                box = slider.bounding_box()
                page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + box["height"] / 2)
                _wait(lambda: _count(page) != before, "the App's sample count did not change after the slider", 120)
                page.wait_for_timeout(3000)  # the grid's thumbnails
                summary = panel.get_by_text("at or above").first.inner_text()
                shots["panel"] = tmp_path / "panel.png"
                page.screenshot(path=str(shots["panel"]))
                panel.get_by_text("Error versus discard").first.evaluate("e => e.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(1500)
                shots["panel_edc"] = tmp_path / "panel_edc.png"
                page.screenshot(path=str(shots["panel_edc"]))
                after = _count(page)
            finally:
                browser.close()

        # the panel's numbers against the database: its field, threshold and kept count
        m = re.search(r"(\S+): .*?([\d,]+) of ([\d,]+) samples at or above ([-\d.e+]+)", summary)
        assert m, summary
        field, kept, total, t = m.group(1), int(m.group(2).replace(",", "")), int(m.group(3).replace(",", "")), float(m.group(4))
        assert field in (FIELD, f"{FIELD}_score") and total == n
        values = [v for v in ds.values(field) if v is not None]
        assert kept == after < n
        # the summary prints 6 significant digits: allow for that rounding only
        assert sum(v >= t + 1e-5 * abs(t) for v in values) <= kept <= sum(v >= t - 1e-5 * abs(t) for v in values)
        keep = os.environ.get("FIQA_PANEL_SCREENSHOTS")
        if keep:
            from PIL import Image

            Path(keep).mkdir(parents=True, exist_ok=True)
            for name, src in shots.items():
                dst = Path(keep) / ("fiftyone_panel.png" if name == "panel" else f"fiftyone_{name}.png")
                Image.open(src).convert("RGB").quantize(256).save(dst, optimize=True)
    finally:
        ds.delete()
