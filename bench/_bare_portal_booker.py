"""The baseline of bench/portal_throughput.py: a bare Playwright script booking loads on the portal simulator.

The same steps as the portal worker's first attempt at a booking, and nothing else: one Chromium per thread
(the worker's, passed as --chromium, launched with its flags), a login once, then per booking a fresh context
loaded with the saved session, the booking form, the submit, the protocol. No queue, no database, no logs.
Prints one JSON line: per-booking seconds and the protocols, for the benchmark to compare against the worker in
the same run.

It talks with the benchmark over stdin/stdout so that the benchmark measures the booking phase alone, as it
does for the worker, on the live process tree (CPU of Chromium's exited renderers is only visible there):
it prints "ready" once its browsers are up and have each made one unmeasured booking (as the worker's warm-up),
books when it reads a line, prints its JSON line, and closes its browsers when it reads another. The --prefix
names its loads: each run of the script needs its own.

    python bench/_bare_portal_booker.py URL USERNAME PASSWORD --chromium PATH --bookings 40 --threads 2 [--block]
"""

import argparse
import datetime as dt
import json
import sys
import threading
import time

from playwright.sync_api import sync_playwright

from filas.settings import PORTAL_BLOCKED_URLS
from filas_portal.browser import CHROMIUM_FLAGS

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("--bookings", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prefix", default="BARE")
    parser.add_argument("--chromium", required=True,
                        help="the executable the portal worker launches (bench: config.chromium_path); "
                             "empty: Playwright's own")
    parser.add_argument("--block", action="store_true", help="block what the worker blocks (images, fonts...)")
    args = parser.parse_args()
    session = log_in(args)
    numbers = iter(range(1, args.bookings + 1))
    lock = threading.Lock()
    durations: list[float] = []
    protocols: list[str] = []

    def next_number() -> int | None:
        with lock:
            return next(numbers, None)

    launched, finished = threading.Barrier(args.threads + 1), threading.Barrier(args.threads + 1)
    go, close = threading.Event(), threading.Event()

    def book_loads(thread_number: int) -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium or None, args=list(CHROMIUM_FLAGS))
            # One booking unmeasured, as the worker's warm-up: a browser's first context costs more.
            book(browser, args, session, f"{args.prefix}-WARM-{thread_number}")
            launched.wait()
            go.wait()
            while (number := next_number()) is not None:
                started = time.monotonic()
                protocol = book(browser, args, session, f"{args.prefix}-{number:04d}")
                with lock:
                    durations.append(time.monotonic() - started)
                    protocols.append(protocol)
            finished.wait()
            close.wait()
            browser.close()

    threads = [threading.Thread(target=book_loads, args=(n,)) for n in range(1, args.threads + 1)]
    for thread in threads:
        thread.start()
    launched.wait()
    print("ready", flush=True)
    sys.stdin.readline()
    go.set()
    finished.wait()
    print(json.dumps({"durations": durations, "protocols": protocols}), flush=True)
    sys.stdin.readline()
    close.set()
    for thread in threads:
        thread.join()


def log_in(args: argparse.Namespace) -> dict:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium or None, args=list(CHROMIUM_FLAGS))
        context = browser.new_context(locale="pt-BR")
        page = context.new_page()
        page.goto(args.url + "/login")
        page.fill("#usuario", args.username)
        page.fill("#senha", args.password)
        with page.expect_navigation():
            page.click("#entrar")
        state = context.storage_state()
        browser.close()
        return state


def book(browser, args: argparse.Namespace, session: dict, load: str) -> str:
    context = browser.new_context(storage_state=session, locale="pt-BR")
    if args.block:
        for pattern in PORTAL_BLOCKED_URLS:
            context.route(pattern, lambda route: route.abort("blockedbyclient"))
    try:
        page = context.new_page()
        page.goto(args.url + "/agendamentos/novo")
        page.fill("#lote", load)
        page.fill("#data", TOMORROW)
        page.select_option("#hora", value="09:00")
        page.select_option("#transportadora", value="215")
        page.select_option("#tipo_veiculo", value="11")
        with page.expect_navigation():
            page.click("#agendar")
        return page.locator("#protocolo").inner_text()
    finally:
        context.close()


if __name__ == "__main__":
    main()
