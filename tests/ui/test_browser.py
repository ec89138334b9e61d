"""The dashboard in real headless Chromium (Selenium driving Debian's chromedriver) after a
real taxi run and the CT run of a drifted span: clicks from the Runs page to a run, to its
model, to its lineage; what each page draws. Screenshots go to the test's tmp folder."""

from __future__ import annotations

import shutil
import time

import pytest

pytestmark = pytest.mark.integration

WINDOW = (1280, 800)


@pytest.fixture(scope="module")
def driver():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("the browser tests need Chromium and its driver: apt-get install chromium "
                    "chromium-driver (Debian; .ci/run installs them)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser tests need selenium: pip install -c constraints.txt selenium "
                    "(the `test` extra)")
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    browser.implicitly_wait(5)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def site(ui_workspace):
    from framework.ui.app import Dashboard
    from framework.ui.server import start_in_thread

    server = start_in_thread(Dashboard(ui_workspace.settings()))
    yield server.url
    server.stop()


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def drawn(driver, selector: str, timeout: float = 20.0) -> int:
    """How many charts at or under `selector` plotly.js has drawn (a plot div holding its
    .main-svg), waiting for the first."""
    deadline = time.monotonic() + timeout
    while True:
        plots = css(driver, f"{selector}.js-plotly-plot, {selector} .js-plotly-plot")
        count = sum(1 for plot in plots if css(plot, ".main-svg"))
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def shoot(driver, tmp_path, name: str, full: bool = False) -> None:
    if full:
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(WINDOW[0], min(height + 40, 4000))
    driver.save_screenshot(str(tmp_path / f"{name}.png"))
    driver.set_window_size(*WINDOW)


def test_click_from_runs_to_a_run_to_its_model_to_its_lineage(driver, site, ui_workspace,
                                                              tmp_path):
    driver.get(site + "/runs")
    rows = css(driver, "tr.run")
    assert len(rows) == len(ui_workspace.runs)
    assert "drift" in rows[0].text and "manual" in rows[-1].text
    shoot(driver, tmp_path, "runs")
    css(driver, "tr.run a.run-link")[0].click()
    assert ui_workspace.ct_run in css(driver, "h1")[0].text
    nodes = css(driver, "svg.dag g.node")
    assert len(nodes) == 10
    assert len(css(driver, "svg.dag g.state-cached")) == 1  # schema_importer, from the cache
    assert len(css(driver, "svg.dag path.edge")) >= 12
    assert drawn(driver, "#timeline") == 1
    bars = css(driver, "#timeline .main-svg g.point")
    assert len(bars) == 10
    shoot(driver, tmp_path, "run", full=True)
    css(driver, "#to-model")[0].click()
    assert css(driver, "#blessed")[0].text == "Blessed"
    assert "binary_accuracy" in css(driver, "#overall")[0].text
    assert drawn(driver, "#slices-chart") == 1
    assert len(css(driver, "#slices-chart .main-svg g.point")) > 20  # candidate and baseline bars
    shoot(driver, tmp_path, "model", full=True)
    driver.back()
    css(driver, "#to-lineage")[0].click()
    graph = css(driver, "#lineage-graph svg.dag")[0]
    labels = [n.get_attribute("data-node") for n in css(driver, "#lineage-graph g.node")]
    assert labels[0].startswith("span") and any(n.startswith("push") for n in labels)
    assert any(n.startswith("release ") for n in labels) and graph.is_displayed()
    assert "canary" in css(driver, "#release-stage")[0].text
    shoot(driver, tmp_path, "lineage")


def test_data_page_draws_feature_charts_and_the_drift_of_the_shifted_span(driver, site,
                                                                          tmp_path):
    from selenium.webdriver.support.ui import Select

    driver.get(site + "/data")
    assert drawn(driver, "#features") > 0
    cards = css(driver, ".card.feature")
    assert len(cards) >= 17
    assert drawn(driver, "#features") >= 15  # a feature with no values has no chart
    Select(css(driver, "#compare")[0]).select_by_index(1)
    css(driver, "#compare-button")[0].click()
    assert drawn(driver, "#drift-chart", timeout=120) == 1
    drifted = css(driver, ".drift-table tr.drifted")
    assert len(drifted) == 1 and drifted[0].text.startswith("trip_miles")
    assert "drifted: trip_miles" in css(driver, "#drift")[0].text
    shoot(driver, tmp_path, "data")


def test_ct_and_release_pages_draw_their_figures(driver, site, ui_workspace, tmp_path):
    driver.get(site + "/ct")
    decisions = css(driver, ".decision")
    assert len(decisions) == 2
    assert "FIRED" in decisions[1].text and "trip_miles" in decisions[1].text
    assert "nothing fired" in decisions[0].text
    [drift] = [row for row in css(decisions[1], "tr.trigger.fired")
               if row.text.startswith("drift")]
    cells = [cell.text for cell in css(drift, "table.evidence td")]
    assert cells[:2] == ["trip_miles", "jensen_shannon_divergence"]
    shoot(driver, tmp_path, "ct")
    driver.get(site + "/release")
    assert css(driver, "#canary")[0].text and "25%" in css(driver, "#canary-card h2")[0].text
    rows = css(driver, "table.versions tr[data-version]")
    assert {r.get_attribute("class") for r in rows} == {"stage-production", "stage-canary"}
    assert drawn(driver, "#traffic-chart") == 1
    shoot(driver, tmp_path, "release", full=True)


def test_a_wrong_address_is_a_plain_page_and_the_next_one_works(driver, site, ui_workspace):
    driver.get(site + "/runs/no-such-run")
    assert "no run 'no-such-run'" in css(driver, "#problem")[0].text
    driver.get(site + "/runs")
    assert len(css(driver, "tr.run")) == len(ui_workspace.runs)
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"
              and "no-such-run" not in e.get("message", "")]
    assert errors == []
