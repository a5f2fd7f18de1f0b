"""The dashboard in headless Chromium over a real pipeline: it draws what the REST API reports."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from cartsim.broker import EmbeddedBroker
from cartsim.kafka import high_watermarks
from cartsim.processes import stop_process
from cartsim.settings import Settings
from tests.browser import chromium
from tests.conftest import Services, wait_until
from tests.tables import stored_count

BACKFILL = 4_000
KEY = "dashboard-test-key"
STAGES = ("sessions", "viewed", "added_to_cart", "began_checkout", "purchased")

#: Everything the page draws, read from the DOM in one go (a frame is rendered synchronously,
#: so this is one frame's figures).
FIGURES_JS = """
const value = (selector) => document.querySelector(selector).dataset.value;
const bars = (id) => Object.fromEntries(Array.from(
  document.querySelectorAll(`#${id} .bar`), (bar) => [bar.dataset.key, Number(bar.dataset.value)]));
const chart = window.cartsim.chart;
return {
  frames: Number(document.body.dataset.frames || 0),
  total: Number(value("#kpi-total")),
  revenue: Number(value("#kpi-revenue")),
  orders: Number(value("#kpi-orders")),
  abandoned_carts: Number(value("#kpi-abandoned")),
  funnel: bars("funnel"),
  event_types: bars("event-types"),
  sources: bars("sources"),
  devices: bars("devices"),
  by_revenue: bars("top-revenue"),
  by_adds: bars("top-adds"),
  abandoned: Array.from(document.querySelectorAll("#abandoned tbody tr"),
    (tr) => [tr.dataset.session, Number(tr.dataset.value)]),
  latest: Array.from(document.querySelectorAll("#latest tbody tr"), (tr) => tr.dataset.event),
  health: Object.fromEntries(Array.from(document.querySelectorAll("#health dd[data-component]"),
    (dd) => [dd.dataset.component, dd.dataset.status])),
  rate_shown: value("#kpi-rate"),
  rate_chart: chart === null ? null : chart.data[1],
};
"""


@dataclass
class Pipeline:
    services: Services
    live: subprocess.Popen[bytes] | None = None

    def stream(self) -> None:
        """Run a live producer (unless one runs) and wait until its events are counted."""
        if self.live is None or self.live.poll() is not None:
            counted = self.total()
            self.live = self.services.start("produce", "--rate", "40")
            wait_until(lambda: self.total() > counted, 90, "live events counted")

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.services.api_url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def total(self) -> int:
        try:
            return int(self.get("/cart/statistics")["total_events"])
        except httpx.HTTPError:
            return -1

    def stop_live(self) -> int:
        """Stop the live producer; returns the total once the tables and files hold it all.

        Totals, files and DuckDB agree at every commit of the worker, also while it still reads
        the producer's last records: only the topic's log-end offsets say that it read them all.
        """
        if self.live is not None:
            stop_process(self.live)
        settings, bootstrap = Settings(), self.services.env["CARTSIM_KAFKA_BOOTSTRAP"]
        marks = asyncio.run(high_watermarks(bootstrap, settings.topic, settings.partitions))
        produced = sum(marks.values())

        def settled() -> int | None:
            total = self.total()
            stored = stored_count(self.services.data_dir)
            ingested = self.get("/health")["storage"]["ingest"]["rows"]
            return total if total == stored == ingested == produced else None

        return wait_until(settled, 60, "the stopped stream settled in files, tables and DuckDB")

    def figures(self) -> dict[str, Any]:
        """What the dashboard should draw, from the REST endpoints it is built from."""
        stats = self.get("/cart/statistics")
        abandoned = self.get("/cart/abandoned", limit=10)
        latest = self.get("/cart/events", limit=15)
        health = self.get("/health")
        top = stats["top_products"]
        return {
            "total": stats["total_events"],
            "revenue": stats["revenue"]["revenue_vnd"],
            "orders": stats["revenue"]["orders"],
            "abandoned_carts": stats["abandonment"]["abandoned_sessions"],
            "funnel": {stage: stats["funnel"][stage] for stage in STAGES},
            "event_types": stats["event_types"],
            "sources": stats["sources"],
            "devices": stats["devices"],
            "by_revenue": {str(p["product_id"]): p["revenue_vnd"] for p in top["by_revenue"]},
            "by_adds": {str(p["product_id"]): p["adds"] for p in top["by_adds"]},
            "abandoned": [[i["session_id"], i["cart_value_vnd"]] for i in abandoned["items"]],
            "latest": [event["event_id"] for event in latest["items"]],
            "health": {
                "broker": health["broker"]["status"],
                "workers": health["worker"]["status"],
                "storage": health["storage"]["status"],
            },
        }


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """Broker, worker and API (with an API key) and the last day backfilled, so that carts have
    been idle for hours (and not yet for the 8 days after which they expire)."""
    with EmbeddedBroker() as broker:
        services = Services(tmp_path_factory.mktemp("dashboard"), broker.bootstrap)
        services.env.update(CARTSIM_API_KEY=KEY, CARTSIM_DASHBOARD_INTERVAL_S="0.5")
        try:
            services.start("worker")
            services.start("api")
            now = datetime.now(UTC).replace(microsecond=0)
            start, end = (
                (now - timedelta(days=1)).isoformat(),
                (now - timedelta(minutes=1)).isoformat(),
            )
            backfill = ("--count", str(BACKFILL), "--start", start, "--end", end)
            produced = services.run("produce", *backfill, "--seed", "11")
            assert produced.returncode == 0, produced.stderr
            pipeline = Pipeline(services)
            # the baseline of `stream`: a total read while the backfill is still being counted
            # would let the backfill's last events pass for the live producer's
            wait_until(lambda: pipeline.total() == BACKFILL, 60, "the backfill counted")
            yield pipeline
        finally:
            services.stop_all()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, pipeline: Pipeline) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("chromium") / "profile") as driver:
        driver.get(f"{pipeline.services.api_url}/")
        yield driver


def shown(driver: WebDriver) -> dict[str, Any]:
    return driver.execute_script(FIGURES_JS)


def frames_after(driver: WebDriver, frames: int) -> dict[str, Any]:
    """The page's figures once it has drawn a frame built after the `frames`-th arrived."""
    return wait_until(
        lambda: (figures := shown(driver))["frames"] >= frames + 2 and figures,
        30,
        "two more frames",
    )


def test_the_live_page_shows_what_the_rest_api_reports(
    pipeline: Pipeline, browser: WebDriver, tmp_path: Path
) -> None:
    pipeline.stream()
    wait_until(lambda: shown(browser)["frames"] >= 2, 30, "the first frames")
    # While events stream in, each figure lies between the REST answers just before and after.
    first = pipeline.figures()
    for _ in range(3):
        seen = shown(browser)["frames"]
        before = pipeline.figures()
        page = frames_after(browser, seen)
        after = pipeline.figures()
        assert before["total"] <= page["total"] <= after["total"]
        for stage in STAGES:
            assert before["funnel"][stage] <= page["funnel"][stage] <= after["funnel"][stage]
        for kind, count in page["event_types"].items():
            assert before["event_types"].get(kind, 0) <= count <= after["event_types"][kind]
    assert first["total"] < after["total"], "the live producer moves the stream"
    live = wait_until(
        lambda: (f := shown(browser))["rate_chart"] and f["rate_chart"][-1] > 0 and f,
        30,
        "a non-zero events-per-second point",
    )
    assert float(live["rate_shown"]) == live["rate_chart"][-1]
    screenshot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Once the stream stops, every figure equals the REST API's.
    pipeline.stop_live()
    expected = pipeline.figures()
    wait_until(lambda: shown(browser)["latest"] == expected["latest"], 60, "the last frame")
    page = shown(browser)
    assert {k: page[k] for k in expected} == expected
    assert expected["abandoned"], "the backfill leaves carts idle for hours"
    wait_until(lambda: shown(browser)["rate_chart"][-1] == 0, 30, "the rate back to 0")


def test_the_page_loads_nothing_from_elsewhere(pipeline: Pipeline, browser: WebDriver) -> None:
    base = pipeline.services.api_url
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((entry) => entry.name)"
    )
    assert any(url.endswith("/dashboard/assets/uPlot.iife.min.js") for url in loaded)
    assert all(url.startswith(f"{base}/") for url in loaded), loaded
    assert browser.execute_script("return typeof uPlot") == "function"


def test_the_generate_form_starts_a_job_and_shows_its_progress(
    pipeline: Pipeline, browser: WebDriver
) -> None:
    before = pipeline.stop_live()
    form = browser.find_element(By.ID, "generate")
    count = form.find_element(By.NAME, "count")
    count.clear()
    count.send_keys("1000")
    Select(form.find_element(By.NAME, "method")).select_by_value("new")
    form.find_element(By.NAME, "seed").send_keys("5")
    key = form.find_element(By.NAME, "key")
    key.send_keys("a wrong key")
    status = browser.find_element(By.ID, "generate-status")

    browser.find_element(By.ID, "generate-start").click()
    wait_until(lambda: status.get_attribute("data-state") == "refused", 10, "the refusal")
    assert "X-API-Key" in status.text

    key.clear()
    key.send_keys(KEY)
    browser.find_element(By.ID, "generate-start").click()
    wait_until(lambda: status.get_attribute("data-state") == "succeeded", 60, "the job's end")
    assert status.get_attribute("data-produced") == "1000"
    job = pipeline.get("/cart/generate/status")
    assert (job["state"], job["produced"], job["method"], job["seed"]) == (
        "succeeded",
        1000,
        "new",
        5,
    )
    assert job["job_id"] in status.text
    wait_until(lambda: shown(browser)["total"] == before + 1000, 60, "the generated events drawn")
    assert pipeline.total() == before + 1000
