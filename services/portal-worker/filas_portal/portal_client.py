"""Page object for the Atacadão supplier portal (Playwright sync API).

One `book()` opens a browser context from the saved session, logs in only when the portal asks for it,
looks the load up in the portal's bookings list first when an earlier attempt may have submitted it (so a
redelivered job finds the booking it already made), and only then fills and submits the booking form.
Knows nothing of Dramatiq or the database.

Error classes tell the caller what to do: `PortalTransientError` is worth retrying (timeouts, HTTP 5xx,
connection refused, a session lost mid-submit); `PortalUnavailable` also says when, from the portal's
Retry-After; `PortalPermanentError` and its subclasses are not (a slot taken, data the portal refuses, a
CAPTCHA, a session that cannot be renewed without a person). Retrying after any error is safe because
every attempt searches before it books. `on_failure` is told of an attempt's failure while its page is still
open, for the caller to keep evidence of what the portal showed.

The form's selects are matched as the front end names things: an option's value (the portal's code, e.g.
vehicle "11") or its label ("Truck"), case and accents ignored.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Browser, BrowserContext, Page, Response, Route
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from filas.errors import FilasError, PermanentJobError, RetryLater

StepCallback = Callable[[str, str], None]
# Told of whatever ends an attempt with its page still open (to keep evidence): a PortalError (browser errors
# translated), or another exception raised through the flow (a time limit, a cancel). Must not raise.
FailureCallback = Callable[[Page, BaseException], None]

# The portal's page structure, in one place.
LOGIN_FORM = "#form-login"
LOGIN_USER = "#usuario"
LOGIN_PASSWORD = "#senha"
LOGIN_SUBMIT = "#entrar"
LOGIN_ERROR = "#erro-login"
BOOKINGS_TABLE = "#lista-agendamentos"
NO_BOOKINGS = "#nenhum-agendamento"
BOOKING_ROWS = "tr.agendamento"
FORM_LOAD = "#lote"
FORM_DATE = "#data"
FORM_TIME = "#hora"
FORM_CARRIER = "#transportadora"
FORM_VEHICLE_TYPE = "#tipo_veiculo"
FORM_SUBMIT = "#agendar"
FORM_ERROR = "#erro"
SLOT_UNAVAILABLE = "#horario-indisponivel"
CAPTCHA = "#captcha"
PROTOCOL = "#protocolo"

BOOKINGS_PATH = "/agendamentos"
NEW_BOOKING_PATH = "/agendamentos/novo"

# A Retry-After longer than this is not waited for in one go: the retry asks again.
MAX_RETRY_AFTER_SECONDS = 600
SET_UP_SESSION = "uma pessoa precisa configurar a sessão do portal e depois reprocessar a integração"

_ROWS_SCRIPT = """rows => rows.map(r => [
  (r.querySelector('.lote')?.textContent || '').trim(),
  (r.querySelector('.protocolo')?.textContent || '').trim(),
])"""
# What a page shows, read in one round trip after each navigation: for each marker, its text or null.
_LOOK_SCRIPT = """selectors => Object.fromEntries(selectors.map(s => {
  const found = document.querySelector(s);
  return [s, found ? found.innerText : null];
}))"""
PAGE_MARKERS = (LOGIN_FORM, LOGIN_ERROR, BOOKINGS_TABLE, NO_BOOKINGS, FORM_LOAD, FORM_ERROR, SLOT_UNAVAILABLE,
                CAPTCHA, PROTOCOL)
# Every select's options, [value, label], in one round trip.
_OPTIONS_SCRIPT = """selects => Object.fromEntries(selects.map(s => [
  s, Array.from(document.querySelectorAll(s + ' option'), o => [o.value, o.textContent.trim()]),
]))"""
FORM_SELECTS = (FORM_TIME, FORM_CARRIER, FORM_VEHICLE_TYPE)


@dataclass(frozen=True)
class BookingRequest:
    lote_id: str
    data: date
    hora: str  # "HH:MM"
    transportadora: str
    tipo_veiculo: str
    # An earlier attempt may have submitted this booking: look for it first. The first attempt has nothing
    # to find, and skips a page load.
    search_first: bool = True


@dataclass(frozen=True)
class BookingResult:
    protocolo: str
    already_existed: bool


class PortalError(FilasError):
    """Anything that kept a booking from completing. Messages are for people (Portuguese, no secrets)."""


class PortalTransientError(PortalError):
    """Timeouts, HTTP 5xx, connection refused: worth retrying later."""


class PortalUnavailable(PortalTransientError, RetryLater):
    """The portal answered 5xx, 408 or 429 with Retry-After: retried after the delay it asked for."""


class PortalPermanentError(PortalError, PermanentJobError):
    """Retrying will not help; the message says why."""


class CaptchaRequired(PortalPermanentError):
    """The portal asked for a CAPTCHA, which only a person can answer."""


class SessionExpired(PortalPermanentError):
    """The saved session is gone and no automatic login can renew it: a person must set it up."""


class LoginRejected(PortalPermanentError):
    """The portal refused the configured credentials."""


class BookingRejected(PortalPermanentError):
    """The portal (or its form's choices) refused the booking data; the message is the portal's."""


class SlotUnavailable(BookingRejected):
    """The chosen date and time are full on the portal."""


class PageView:
    """What the current page shows of the portal's markers (PAGE_MARKERS), read at once."""

    def __init__(self, texts: dict[str, str | None]) -> None:
        self._texts = texts

    @classmethod
    def of(cls, page: Page) -> PageView:
        return cls(page.evaluate(_LOOK_SCRIPT, list(PAGE_MARKERS)))

    def shows(self, marker: str) -> bool:
        return self._texts.get(marker) is not None

    def text(self, marker: str) -> str:
        return " ".join((self._texts.get(marker) or "").split())

    @property
    def login_page(self) -> bool:
        return self.shows(LOGIN_FORM)


class AtacadaoPortal:
    def __init__(
        self,
        browser: Browser,
        base_url: str,
        username: str,
        password: str,
        storage_state: dict[str, Any] | None = None,
        on_step: StepCallback | None = None,
        timeout_ms: int = 30000,
        before_submit: Callable[[], None] | None = None,
        on_failure: FailureCallback | None = None,
        blocked_urls: tuple[str, ...] = (),
    ) -> None:
        self._browser = browser
        self._base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._storage_state = storage_state
        self._on_step = on_step
        self._timeout_ms = timeout_ms
        self._before_submit = before_submit
        self._on_failure = on_failure
        self._blocked_urls = blocked_urls

    def book(self, request: BookingRequest) -> BookingResult:
        return self._in_new_context(lambda page: self._book_on_page(page, request))

    def storage_state(self) -> dict[str, Any]:
        """The browser session (cookies, local storage) to persist and pass to the next instance."""
        return dict(self._storage_state or {"cookies": [], "origins": []})

    def log_in(self) -> None:
        """Reach the booking form, logging in with the credentials if the session is gone (the session
        command's `login`); storage_state() is then the logged-in session."""
        self._in_new_context(lambda page: self._open(page, NEW_BOOKING_PATH))

    def session_works(self) -> bool:
        """Whether the session reaches the booking form without a login; never logs in."""
        return self._in_new_context(self._reaches_form)

    def wait_for_person_to_log_in(self, timeout_ms: int) -> None:
        """Open the booking form in this (headed) browser and wait until a person has logged in there."""
        self._in_new_context(lambda page: self._wait_for_form(page, timeout_ms))

    # --- the flow --------------------------------------------------------------------------

    def _book_on_page(self, page: Page, request: BookingRequest) -> BookingResult:
        try:
            return self._book_in(page, request)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            if self._on_failure is not None:
                self._on_failure(page, self._portal_error(exc) if isinstance(exc, PlaywrightError) else exc)
            raise

    def _book_in(self, page: Page, request: BookingRequest) -> BookingResult:
        load = request.lote_id
        if request.search_first:
            self._step("busca", f"Verificando se o lote {load} já tem agendamento no portal.")
            existing = self._existing_protocol(page, load)
            if existing:
                self._step("busca", f"Lote {load} já agendado no portal: protocolo {existing}.")
                return BookingResult(protocolo=existing, already_existed=True)
        form = self._open(page, NEW_BOOKING_PATH)  # logs in first if the session is gone
        self._step(
            "formulario", f"Preenchendo o agendamento do lote {load} para {request.data:%d/%m/%Y} às {request.hora}."
        )
        self._raise_if_captcha(form, load)
        self._fill_form(page, request)
        if self._before_submit is not None:
            self._before_submit()  # the caller's last word before the portal books: it may still stop here
        protocolo = self._submit_form(page, load)
        self._step("confirmacao", f"Agendamento confirmado: protocolo {protocolo}.")
        return BookingResult(protocolo=protocolo, already_existed=False)

    def _existing_protocol(self, page: Page, load: str) -> str | None:
        listing = self._open(page, f"{BOOKINGS_PATH}?{urlencode({'lote': load})}")
        if not (listing.shows(BOOKINGS_TABLE) or listing.shows(NO_BOOKINGS)):
            # Booking without knowing whether the load is booked could book it twice.
            raise PortalPermanentError(f"Não foi possível ler a lista de agendamentos do portal ({page.url}).")
        rows = page.locator(BOOKING_ROWS).evaluate_all(_ROWS_SCRIPT)
        # The portal's search may match more than this exact load.
        return next((protocolo for row_load, protocolo in rows if row_load == load and protocolo), None)

    def _open(self, page: Page, path: str) -> PageView:
        """Go to a page behind the login, logging in first if the saved session is gone; what it shows."""
        self._check(page.goto(self._base_url + path), path)
        view = PageView.of(page)
        if not view.login_page:
            return view
        self._login(page, view)
        self._check(page.goto(self._base_url + path), path)
        view = PageView.of(page)
        if view.login_page:
            raise SessionExpired(
                f"O portal pediu login de novo logo após aceitar o login; a sessão não se mantém: {SET_UP_SESSION}."
            )
        return view

    def _login(self, page: Page, login_page: PageView) -> None:
        self._step("login", "Sessão salva ausente ou expirada; entrando no portal.")
        if not (self._username and self._password):
            raise SessionExpired(f"A sessão do portal expirou e não há usuário e senha configurados: {SET_UP_SESSION}.")
        if login_page.shows(CAPTCHA):
            raise SessionExpired(f"A sessão do portal expirou e o portal pede CAPTCHA para entrar: {SET_UP_SESSION}.")
        page.fill(LOGIN_USER, self._username)
        page.fill(LOGIN_PASSWORD, self._password)
        with page.expect_navigation() as navigation:
            page.click(LOGIN_SUBMIT)
        self._check(navigation.value, "login")
        answer = PageView.of(page)
        if answer.shows(LOGIN_ERROR):
            raise LoginRejected(f"O portal recusou o login: {answer.text(LOGIN_ERROR)}")
        if answer.login_page:
            raise SessionExpired(f"O portal não aceitou o login nem explicou o motivo: {SET_UP_SESSION}.")
        self._step("login", "Login aceito pelo portal.")

    def _fill_form(self, page: Page, request: BookingRequest) -> None:
        """Every choice is checked against the portal's options before anything is typed."""
        offered = page.evaluate(_OPTIONS_SCRIPT, list(FORM_SELECTS))
        choices = {
            FORM_TIME: _choice(offered[FORM_TIME], request.hora, "horário"),
            FORM_CARRIER: _choice(offered[FORM_CARRIER], request.transportadora, "transportadora"),
            FORM_VEHICLE_TYPE: _choice(offered[FORM_VEHICLE_TYPE], request.tipo_veiculo, "tipo de veículo"),
        }
        page.fill(FORM_LOAD, request.lote_id)
        page.fill(FORM_DATE, request.data.isoformat())
        for select, value in choices.items():
            if value is not None:  # left blank: the select stays unchosen and the portal says what is missing
                page.select_option(select, value=value)

    def _submit_form(self, page: Page, load: str) -> str:
        with page.expect_navigation() as navigation:
            page.click(FORM_SUBMIT)
        self._check(navigation.value, "envio do agendamento")
        answer = PageView.of(page)
        if answer.shows(PROTOCOL):
            return answer.text(PROTOCOL)
        self._raise_if_captcha(answer, load)
        if answer.shows(SLOT_UNAVAILABLE):
            raise SlotUnavailable(answer.text(SLOT_UNAVAILABLE))
        if answer.shows(FORM_ERROR):
            raise BookingRejected(answer.text(FORM_ERROR))
        if answer.login_page:
            # The portal refuses before booking; a retry logs in and searches before booking again.
            raise PortalTransientError("A sessão do portal expirou durante o envio; o agendamento não foi feito.")
        raise PortalPermanentError(
            f"Página inesperada após enviar o agendamento ({page.url}); nenhum protocolo exibido."
        )

    # --- helpers ---------------------------------------------------------------------------

    def _in_new_context(self, work: Callable[[Page], Any]) -> Any:
        context: BrowserContext | None = None
        try:
            context = self._new_context()
            return work(context.new_page())
        except PlaywrightError as exc:
            raise self._portal_error(exc) from exc
        finally:
            if context is not None:
                self._keep_session(context)
                _close_quietly(context)

    def _reaches_form(self, page: Page) -> bool:
        self._check(page.goto(self._base_url + NEW_BOOKING_PATH), NEW_BOOKING_PATH)
        view = PageView.of(page)
        return not view.login_page and view.shows(FORM_LOAD)

    def _wait_for_form(self, page: Page, timeout_ms: int) -> None:
        page.goto(self._base_url + NEW_BOOKING_PATH)
        # The person may log in, answer a CAPTCHA, get it wrong and try again: only the form says it worked.
        try:
            page.wait_for_selector(FORM_LOAD, timeout=timeout_ms)
        except PlaywrightTimeoutError as exc:
            raise PortalPermanentError(
                f"Ninguém entrou no portal em {timeout_ms / 1000:g} s; a sessão não foi salva.") from exc

    def _new_context(self) -> BrowserContext:
        context = self._browser.new_context(storage_state=self._storage_state, locale="pt-BR")  # type: ignore[arg-type]
        context.set_default_timeout(self._timeout_ms)
        context.set_default_navigation_timeout(self._timeout_ms)
        for pattern in self._blocked_urls:  # only matching requests are intercepted: the rest pay nothing
            context.route(pattern, _block)
        return context

    def _keep_session(self, context: BrowserContext) -> None:
        with contextlib.suppress(PlaywrightError):  # browser gone: keep the previous session
            self._storage_state = dict(context.storage_state())

    def _raise_if_captcha(self, view: PageView, load: str) -> None:
        if view.shows(CAPTCHA):
            raise CaptchaRequired(f"O portal pediu CAPTCHA ao agendar o lote {load}: {SET_UP_SESSION}.")

    def _check(self, response: Response | None, what: str) -> None:
        if response is None:
            return
        status = response.status
        if status >= 500 or status in (408, 429):
            retry_after = _retry_after_seconds(response.headers.get("retry-after"))
            if retry_after is None:
                raise PortalTransientError(f"O portal respondeu HTTP {status} ({what}); tentar novamente mais tarde.")
            raise PortalUnavailable(
                f"O portal respondeu HTTP {status} ({what}) e pediu para aguardar {retry_after} s.",
                delay=retry_after * 1000,
            )
        if status >= 400:
            raise PortalPermanentError(f"O portal respondeu HTTP {status} ({what}).")

    def _portal_error(self, exc: PortalError | PlaywrightError) -> PortalError:
        if isinstance(exc, PortalError):
            return exc
        if isinstance(exc, PlaywrightTimeoutError):
            return PortalTransientError(f"O portal não respondeu em {self._timeout_ms / 1000:g} s.")
        return PortalTransientError(f"Falha de comunicação com o portal: {_first_line(exc)}")

    def _step(self, step: str, message: str) -> None:
        if self._on_step is not None:
            self._on_step(step, message)


def _choice(options: list[list[str]], wanted: str, label: str) -> str | None:
    """The option value matching `wanted` by value (the portal's code) or label, ignoring case and accents;
    None when nothing is wanted. A choice the portal does not offer is refused, listing what it offers."""
    key = _comparable(wanted)
    if not key:
        return None
    value = next((v for v, text in options if v and key in (_comparable(v), _comparable(text))), None)
    if value is None:
        offered = ", ".join(text for v, text in options if v)
        raise BookingRejected(f"O portal não oferece {label} '{wanted}'. Opções do portal: {offered}.")
    return value


def _comparable(text: str) -> str:
    """Case, accents and repeated spaces do not tell two names apart ("vanderleia" is "Vanderléia")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _retry_after_seconds(header: str | None) -> int | None:
    """Retry-After in seconds (the delay form; the HTTP-date form is rare on portals and read as absent)."""
    seconds = (header or "").strip()
    if not (seconds.isascii() and seconds.isdecimal()):
        return None
    return min(max(int(seconds), 1), MAX_RETRY_AFTER_SECONDS)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _block(route: Route) -> None:
    route.abort("blockedbyclient")


def _close_quietly(context: BrowserContext) -> None:
    with contextlib.suppress(PlaywrightError):
        context.close()
