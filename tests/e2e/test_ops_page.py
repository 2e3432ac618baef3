"""The operations page in a real headless Chromium against the running system: log in, see a booking that
failed for good with its error, requeue its dead letter once the portal works again and see it finish;
cancel a booking waiting in the queue.

Screenshots of the overview and of a job's page are saved in the test's tmp dir, and the overview's as
docs/ops-page.png (the README's) when FILAS_UPDATE_SCREENSHOT=1."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dramatiq.brokers.redis import RedisBroker
from playwright.sync_api import Browser, Page, expect, sync_playwright
from rows import accepted_booking
from test_retries_exhausted import without_retries
from waiting import wait_for

from filas.db.models import Booking, BookingStatus
from filas.db.session import session_scope
from filas_portal.browser import launch_browser, resolve_chromium

pytestmark = pytest.mark.chromium

WAIT_SECONDS = 120  # a cold Chromium in the portal worker on a loaded 2-vCPU machine takes a while
PAGE_SECONDS = 30  # one page load or click on a loaded machine
HOUR_MS = 3_600_000
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "ops-page.png"


# Module scope: a live sync Playwright leaves an asyncio loop marked running in its thread.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch_browser(playwright, resolve_chromium(chromium_path, playwright))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, stack) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.api_url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(PAGE_SECONDS * 1000)
    expect.set_options(timeout=PAGE_SECONDS * 1000)  # how long `expect` waits for a page to show something
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, token: str) -> None:
    page.goto("/ops/")
    expect(page).to_have_url("/ops/login?next=/ops/")  # no session yet
    page.get_by_label("Token da API").fill(token)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()


def shows(page: Page, selector: str) -> bool:
    page.reload()
    return page.locator(selector).count() > 0


def save_screenshot(page: Page, tmp_path: Path) -> None:
    shot = tmp_path / "ops-page.png"
    page.screenshot(path=shot, full_page=True)
    if os.environ.get("FILAS_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, README_SCREENSHOT)


def booking_status(booking_id: int, database_url: str) -> str:
    with session_scope(database_url) as session:
        return session.get(Booking, booking_id).status


def test_a_failed_booking_is_seen_with_its_error_requeued_and_finishes(
        stack, page, portal_sim, stack_database_url, enqueue_by_name, tmp_path):
    portal_sim.post("/_sim/config", json={"fail_next": 1000}).raise_for_status()  # the portal is down
    booking_id, message = accepted_booking("LOTE-OPS-1", stack_database_url)
    enqueue_by_name(without_retries(message))
    job_id = message.message_id

    log_in(page, stack.token)
    wait_for(lambda: shows(page, f"#dead-letters tr[data-job-id='{job_id}']"), WAIT_SECONDS,
             "the booking failing for good and its message dead-lettered")
    failed = page.locator(f"#failed tr[data-job-id='{job_id}']")
    expect(failed).to_contain_text("tentativas esgotadas")
    expect(page.locator("#queues tr[data-queue='atacadao']")).to_be_visible()
    save_screenshot(page, tmp_path)

    failed.get_by_role("link").click()
    expect(page.locator("#job-status")).to_have_text("failed")
    expect(page.locator("#summary")).to_contain_text("tentativas esgotadas")
    expect(page.locator("#logs")).to_contain_text("erro")  # the portal worker's step logs
    portal_sim.post("/_sim/reset").raise_for_status()  # the portal works again
    page.get_by_role("link", name="Reenfileirar…").click()
    page.get_by_role("button", name="Confirmar reenfileiramento").click()

    expect(page.locator(".flash")).to_contain_text("Job reenfileirado")
    wait_for(lambda: shows(page, "#job-status .status-finished"), WAIT_SECONDS, "the requeued booking finishing")
    [booked] = portal_sim.get("/_sim/bookings").json()
    assert booked["lote"] == "LOTE-OPS-1"
    expect(page.locator("#row")).to_contain_text(booked["protocolo"])
    page.screenshot(path=tmp_path / "job-page.png", full_page=True)
    assert booking_status(booking_id, stack_database_url) == BookingStatus.BOOKED


def test_a_queued_booking_is_cancelled_from_its_page(stack, page, stack_database_url):
    booking_id, message = accepted_booking("LOTE-OPS-2", stack_database_url)
    broker = RedisBroker(url=stack.config.redis_url)
    try:
        broker.enqueue(message, delay=HOUR_MS)  # waits in the queue: a worker will not run it for an hour
    finally:
        broker.close()

    log_in(page, stack.token)
    queued = page.locator(f"#recent tr[data-job-id='{message.message_id}']")
    expect(queued).to_contain_text("queued")
    queued.get_by_role("link").click()
    page.get_by_role("link", name="Cancelar…").click()
    page.get_by_role("button", name="Confirmar cancelamento").click()

    expect(page.locator(".flash")).to_contain_text("Job cancelado")
    expect(page.locator("#job-status")).to_have_text("cancelled")
    assert booking_status(booking_id, stack_database_url) == BookingStatus.CANCELLED
