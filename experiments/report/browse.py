"""How quick the report's index is in a browser with many fits: load, sort, filter, page.

    python -m experiments.report.browse --fits 100000

A report of a few made-up fits (`scale.made_up_fits`) is written, then its `data/report.js` is
grown to `--fits` rows by repeating them under new keys (their thumbnails repeat too: a page
loads only its own 48), and headless Chromium (as tests/test_report_browser.py drives it) opens
it from file:// and times, inside the page, a change of sort field, a category filter, a range
filter and a page turn. The table goes to experiments/report/browse.md / .json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from eft_jax import body
from eft_jax.formats.eft_json import write_eft_json
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.report import CropSource, read_run, write_report
from experiments.report.scale import made_up_fits
from experiments.timing import machine_description, write_results
from tests.test_report_browser import headless_chromium

HERE = Path(__file__).parent
SEED_FITS = 50

CHANGE = """
const [id, value] = arguments;
const input = document.getElementById(id) || document.querySelector(id);
const start = performance.now();
input.value = value;
input.dispatchEvent(new Event('change'));
return [performance.now() - start, document.getElementById('gallery-status').textContent];
"""


def grown_report(out: Path, rows: int) -> None:
    data_js = out / "data" / "report.js"
    data = json.loads(data_js.read_text().removeprefix("window.EFT_REPORT = ").removesuffix(";\n"))
    seed = data["rows"]
    key = data["fields"].index("key")
    error = data["fields"].index("keypoint_error_px_after")
    rng = np.random.default_rng(0)
    grown = []
    for i in range(rows):
        row = json.loads(json.dumps(seed[i % len(seed)]))
        row["values"][key] = f"made_up_{i:07d}"
        row["values"][error] = float(rng.gamma(2.0, 3.0))
        grown.append(row)
    data["rows"] = grown
    data_js.write_text(f"window.EFT_REPORT = {json.dumps(data)};\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fits", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    driver, reason = headless_chromium()
    if driver is None:
        raise SystemExit(f"no browser: {reason}")
    work = Path(tempfile.mkdtemp(prefix="eft_jax_report_browse_"))
    try:
        fits, crops = made_up_fits(SEED_FITS)
        crops_npz = write_exemplars_npz(
            work / "crops.npz",
            crops,
            np.zeros((SEED_FITS, 49, 3), np.float32),
            ids=[f["id"] for f in fits],
        )
        write_eft_json(work / "fits.json", fits, body_kind="open", body_model="open")
        out = work / "report"
        write_report(
            [read_run(work / "fits.json")],
            out,
            model=body.load(),
            crops=CropSource.from_crops_npz(crops_npz),
        )
        grown_report(out, args.fits)
        size = (out / "data" / "report.js").stat().st_size
        start = time.perf_counter()
        driver.get((out / "index.html").as_uri())
        load = time.perf_counter() - start
        timings = [("open index.html (until the first page is drawn)", 1000 * load, "")]
        for what, target, value in (
            ("sort by the 2D error", "sort-field", "keypoint_error_px_after"),
            ("sort descending", "sort-order", "desc"),
            ("keep stop reason 'converged'", "select[data-field='stop_reason']", "converged"),
            ("keep iterations in [5, ...]", "range-field", "iterations"),
        ):
            if target == "range-field":
                driver.execute_script("document.getElementById('range-min').value = '5'")
            ms, status = driver.execute_script(CHANGE, target, value)
            timings.append((what, ms, status))
        start = time.perf_counter()
        driver.find_element("id", "next").click()
        timings.append(("next page (click to drawn)", 1000 * (time.perf_counter() - start), ""))
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)
    table = "\n".join(
        [
            f"`python -m experiments.report.browse --fits {args.fits}`",
            "",
            f"{machine_description()}; headless Chromium; data/report.js {size / 1e6:.1f} MB",
            "",
            "| action | ms | gallery |",
            "|---|---:|---|",
            *[f"| {what} | {ms:.0f} | {status} |" for what, ms, status in timings],
            "",
        ]
    )
    write_results(args.out, "browse", table, {"fits": args.fits, "bytes": size, "timings": timings})


if __name__ == "__main__":
    main()
