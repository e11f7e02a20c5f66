"""The HTML report in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`) driven by selenium, opening the report from file:// with no server.

Outside CI the test skips, with the reason printed, when the browser, its driver or selenium is
missing; in CI (CI=true) that is a failure (.ci/run installs them)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from eft_jax import body
from eft_jax.body.upright import turn_points
from eft_jax.report import CropSource, read_run, write_report
from tests.test_report import made_up_fits, write_fits

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def headless_chromium():
    """A headless Chromium through selenium, or the reason there is none."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None, "selenium is not installed (pip install -e '.[test]')"
    binary = next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        return None, "no chromium / chromedriver (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--use-angle=swiftshader",  # WebGL on the CPU: no GPU in CI
        "--enable-unsafe-swiftshader",
        "--window-size=1200,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options), None


@pytest.fixture(scope="module")
def browser():
    driver, reason = headless_chromium()
    if driver is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test must run in CI: {reason}")
        print(f"\ntest_report_browser skipped: {reason}")
        pytest.skip(reason)
    yield driver
    driver.quit()


def _errors(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _cards(driver) -> list[str]:
    return [
        card.get_attribute("data-row") for card in driver.find_elements("css selector", ".card")
    ]


@pytest.mark.slow
def test_the_report_works_in_headless_chromium_from_file_urls(browser, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    fits = made_up_fits(5)
    run = read_run(write_fits(tmp_path / "fits.json", fits))
    model = body.load()
    out = tmp_path / "report"
    write_report([run], out, model=model, crops=CropSource.none(), thumbnail_size=16)

    browser.get((out / "index.html").as_uri())
    assert _errors(browser) == []
    assert browser.find_element("id", "gallery-status").text == "5 of 5 fits"
    assert len(browser.find_elements("css selector", "#histograms svg")) >= 2

    # Sorting: by the 2D error (2, 3, 4, 5, 6 px in input order), both ways.
    Select(browser.find_element("id", "sort-field")).select_by_value("keypoint_error_px_after")
    assert _cards(browser) == ["0", "1", "2", "3", "4"]
    Select(browser.find_element("id", "sort-order")).select_by_value("desc")
    assert _cards(browser) == ["4", "3", "2", "1", "0"]
    # Filtering: by a category, then by a range of a number.
    stop = browser.find_element("css selector", "select[data-field='stop_reason']")
    Select(stop).select_by_value("converged")
    assert _cards(browser) == ["3", "1"]
    Select(stop).select_by_value("")
    Select(browser.find_element("id", "range-field")).select_by_value("iterations")
    browser.find_element("id", "range-min").send_keys("5\t")
    assert sorted(_cards(browser)) == ["2", "3", "4"]
    assert browser.find_element("id", "gallery-status").text == "3 of 5 fits"

    # A fit's page: its numbers, and its body drawn by WebGL, posed in the browser as in Python.
    browser.get((out / "fit.html").as_uri() + "#3")
    row = browser.find_element("css selector", "tr[data-field='iterations'] td:last-child")
    assert row.text == "6"
    canvas = browser.find_element("id", "body-canvas")
    covered = WebDriverWait(browser, 20).until(
        lambda driver: (
            canvas.get_attribute("data-covered-pixels")
            or driver.find_element("id", "view-legend").text
        )
    )
    assert covered.isdigit() and int(covered) > 2000, covered
    posed = browser.execute_script(
        "const fit = window.EFT_SHOWN_FITS[0];"
        "return Array.from(eftPose(eftBodyModel(window.EFT_BODY), fit.parm_pose, fit.parm_shape));"
    )
    entry = run.entries[3]
    expected = turn_points(
        np.asarray(
            body.forward(
                model,
                np.asarray(entry["parm_pose"], np.float32),
                np.asarray(entry["parm_shape"], np.float32),
            ).vertices
        )
    )
    np.testing.assert_allclose(np.reshape(posed, (-1, 3)), expected, atol=2e-5)
    assert _errors(browser) == []
