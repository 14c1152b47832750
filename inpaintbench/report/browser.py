"""Open the HTML report in headless Chromium (Debian's `chromium` + `chromium-driver`, via selenium)
and check what a reader would see: no console errors, every image decoded, every plot drawn, the
tables' numbers equal to the CSV's, every full-size link pointing at a file. Saves screenshots.

Nothing is downloaded: selenium is pointed at the system browser and driver explicitly, so its
driver manager never runs.
"""

from __future__ import annotations

import base64
import csv
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

DESKTOP = (1400, 1500)
PHONE = (390, 1400)
NUMBER = re.compile(r"[-+]?\d+(?:\.(\d+))?")


class BrowserUnavailableError(RuntimeError):
    """The browser or selenium is missing; the message names the package to install."""


@dataclass
class PageCheck:
    problems: list[str] = field(default_factory=list)
    images: int = 0
    plots: int = 0
    cells: int = 0
    links: int = 0
    screenshots: list[Path] = field(default_factory=list)


def find_browser() -> tuple[str, str]:
    """Paths of the chromium binary and its driver, or BrowserUnavailableError naming what to install."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserUnavailableError(
            "selenium is not installed (pip install 'selenium==4.50.0', in the dev extra)"
        ) from None
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None:
        raise BrowserUnavailableError("chromium is not installed (apt-get install chromium chromium-driver)")
    if driver is None:
        raise BrowserUnavailableError("chromedriver is not installed (apt-get install chromium-driver)")
    return browser, driver


def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def _csv_values(csv_path: Path) -> dict[tuple[str, ...], list[float]]:
    """(model, data, protocol, bin, metric) -> CSV values; efficiency rows under data = protocol = ''."""
    values: dict[tuple[str, ...], list[float]] = {}
    with open(csv_path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["value"] == "":
                continue
            if row["bin"] == "-":
                key = (row["model"], "", "", "-", row["metric"])
            else:
                key = (row["model"], row["data"], row["protocol_id"], row["bin"], row["metric"])
            values.setdefault(key, []).append(float(row["value"]))
    return values


def _check_tables(driver: Any, csv_path: Path, check: PageCheck) -> None:
    expected = _csv_values(csv_path)
    cells = driver.execute_script(
        """return Array.from(document.querySelectorAll('table.numbers td[data-metric]')).map(td => {
             const table = td.closest('table'); const tr = td.closest('tr');
             return [tr.dataset.model, table.dataset.data, table.dataset.protocol, td.dataset.bin,
                     td.dataset.metric, td.querySelector('.v').textContent]; });"""
    )
    shown = set()
    for model, data, protocol, bin_, metric, text in cells:
        key = (model, data, protocol, bin_, metric)
        match = NUMBER.search(text)
        check.cells += 1
        if match is None:
            if key in expected:
                check.problems.append(f"table cell {key} shows {text!r}, CSV has {expected[key]}")
            continue
        digits = len(match.group(1) or "")
        tolerance = 0.5 * 10.0**-digits + 1e-12
        candidates = expected.get(key, [])
        if not any(math.isclose(float(match.group(0)), value, abs_tol=tolerance) for value in candidates):
            check.problems.append(f"table cell {key} shows {match.group(0)}, CSV has {candidates or 'no value'}")
        shown.add(key)
    for key in expected:
        if key not in shown:
            check.problems.append(f"CSV value {key} is in no table")


def _check_links(driver: Any, page: Path, check: PageCheck) -> None:
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('header.top a, table.grid a, figure.plot a')).map(a => a.href);"
    )
    for href in hrefs:
        url = urlparse(href)
        if url.scheme != "file" or not Path(unquote(url.path)).is_file():
            check.problems.append(f"link {href} does not resolve to a file (page {page})")
        check.links += 1


def _screenshot(driver: Any, path: Path, width: int, height: int, mobile: bool, full_page: bool) -> Path:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    params: dict[str, Any] = {"format": "png"}
    if full_page:
        size = driver.execute_script("return [document.documentElement.scrollWidth, document.body.scrollHeight];")
        params.update(
            captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        )
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", params)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def check_page(
    page: str | Path,
    csv_path: str | Path,
    screenshot_dir: str | Path | None = None,
    full_page: bool = False,
    expect_plots: int | None = None,
) -> PageCheck:
    """Load `page` from disk and check it; screenshots (desktop, phone) go to `screenshot_dir`."""
    page, csv_path = Path(page).resolve(), Path(csv_path)
    check = PageCheck()
    driver = _driver()
    try:
        driver.get(page.as_uri())
        driver.execute_script("return document.readyState")
        for entry in driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                check.problems.append(f"console error: {entry.get('message')}")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);"
        )
        for complete, width, alt in images:
            if not complete or not width:
                check.problems.append(f"image not loaded: {alt!r}")
        check.images = len(images)
        plots = driver.execute_script(
            """return Array.from(document.querySelectorAll('figure.plot')).map(f => {
                 const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : null;
                 return [f.dataset.plot, box ? box.width * box.height : 0,
                         svg ? svg.querySelectorAll('path, use, line').length : 0]; });"""
        )
        for name, area, marks in plots:
            if area <= 0 or marks == 0:
                check.problems.append(f"plot {name} is not drawn (area {area}, {marks} marks)")
        check.plots = len(plots)
        if expect_plots is not None and check.plots != expect_plots:
            check.problems.append(f"{check.plots} plots on the page, expected {expect_plots}")
        _check_tables(driver, csv_path, check)
        _check_links(driver, page, check)
        if screenshot_dir is not None:
            folder = Path(screenshot_dir)
            for name, (width, height), mobile in (("desktop", DESKTOP, False), ("phone", PHONE, True)):
                shot = _screenshot(driver, folder / f"screenshot_{name}.png", width, height, mobile, full_page)
                check.screenshots.append(shot)
    finally:
        driver.quit()
    return check


def format_check(check: PageCheck, limit: int = 20) -> Sequence[str]:
    lines = [
        f"browser check: {check.images} images, {check.plots} plots, {check.cells} table cells, {check.links} links, "
        f"{len(check.problems)} problem(s)"
    ]
    lines += [f"  {problem}" for problem in check.problems[:limit]]
    lines += [f"  screenshot {path}" for path in check.screenshots]
    return lines
