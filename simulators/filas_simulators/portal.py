"""Simulator of the Atacadão supplier portal: login, booking form, bookings list, and its bad days.

A small real web app (server-rendered HTML forms, in Portuguese) for local runs and integration tests
of the Playwright portal client. State lives in memory, per app. Like the real portal it happily books
the same load twice: avoiding that is the client's job (search `/agendamentos?lote=` first). Like the
real portal, the form's selects post codes (option values) and show names (option labels): VEHICLES
and CARRIERS.

Control endpoints for tests and demos (JSON, no login):
  GET  /_sim/bookings   every booking made, in order (?lote=: one load's)
  GET  /_sim/state      counters (logins, failed_logins, active_sessions, bookings, assets fetched by
                        kind: stylesheet, font, image, analytics) and config
  POST /_sim/config     the portal's bad days, until changed or reset:
                        captcha_lotes [...], captcha_all: a CAPTCHA on the booking form
                        login_captcha: the login page asks for a CAPTCHA (no automatic login)
                        fail_next N, fail_status (503), retry_after_seconds (5; 0: no header):
                          the next N pages answer fail_status with Retry-After
                        delay_ms D: every page is slow
                        session_ttl_seconds S; expire_sessions: true (every session, now);
                        expire_sessions_on_submit N: the next N submits find the session expired
                        full_slots ["14:00", "2030-01-31 09:00"]: slots refused as unavailable
  POST /_sim/reset      forget bookings, sessions, counters; config back to defaults

Run: FILAS_SIM_PORTAL_USERNAME=... FILAS_SIM_PORTAL_PASSWORD=... python -m filas_simulators.portal --port 8101
"""

from __future__ import annotations

import argparse
import hmac
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import wraps
from typing import Any

from flask import Flask, Response, abort, jsonify, redirect, render_template, request
from jinja2 import DictLoader
from werkzeug.serving import make_server

from filas_simulators.portal_assets import ASSET_KINDS, ASSETS

SESSION_COOKIE = "ATACADAO_SESSAO"
SLOTS = tuple(f"{hour:02d}:00" for hour in range(8, 18))
# (code, name): the portal's select options, in the portal's order. The front end sends either.
VEHICLES = (
    ("3", "VUC"),
    ("4", "3/4"),
    ("5", "Toco"),
    ("11", "Truck"),
    ("12", "Bitruck"),
    ("13", "Carreta"),
    ("14", "Carreta LS"),
    ("15", "Vanderléia"),
    ("16", "Bitrem"),
    ("17", "Rodotrem"),
    ("20", "Van"),
)
CARRIERS = (
    ("101", "Agregado"),
    ("102", "Frota Própria"),
    ("215", "Transportes Exemplo"),
    ("230", "Transportes Rápido Ltda"),
    ("311", "Braspress"),
    ("327", "Jamef"),
    ("342", "Rodonaves"),
    ("358", "TNT Mercúrio"),
)
DEFAULT_SESSION_TTL_SECONDS = 1800.0
STATE_KEY = "portal_sim"


@dataclass
class SimConfig:
    captcha_lotes: set[str] = field(default_factory=set)
    captcha_all: bool = False
    login_captcha: bool = False
    fail_next: int = 0
    fail_status: int = 503
    retry_after_seconds: int = 5
    session_ttl_seconds: float = DEFAULT_SESSION_TTL_SECONDS
    expire_sessions_on_submit: int = 0
    delay_ms: int = 0
    full_slots: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "captcha_lotes": sorted(self.captcha_lotes), "full_slots": sorted(self.full_slots)}

    def wants_captcha(self, lote: str) -> bool:
        return self.captcha_all or lote in self.captcha_lotes

    def slot_is_full(self, data: str, hora: str) -> bool:
        return hora in self.full_slots or f"{data} {hora}" in self.full_slots


@dataclass(frozen=True)
class Booking:
    protocolo: str
    lote: str
    data: str
    hora: str
    transportadora: str  # the portal's codes, as the form posts them
    tipo_veiculo: str
    criado_em: str
    transportadora_nome: str = ""
    tipo_veiculo_nome: str = ""


class PortalState:
    """Everything the simulator remembers; every access holds the lock (the server is threaded)."""

    def __init__(self, session_ttl_seconds: float) -> None:
        self._lock = threading.Lock()
        self._default_ttl = session_ttl_seconds
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.config = SimConfig(session_ttl_seconds=self._default_ttl)
            self._sessions: dict[str, float] = {}  # token -> monotonic expiry
            self._bookings: list[Booking] = []
            self._logins = 0
            self._failed_logins = 0
            self._assets = dict.fromkeys(ASSET_KINDS, 0)

    # --- sessions -------------------------------------------------------------------------
    def open_session(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[token] = time.monotonic() + self.config.session_ttl_seconds
            self._logins += 1
        return token

    def count_failed_login(self) -> None:
        with self._lock:
            self._failed_logins += 1

    def session_alive(self, token: str | None) -> bool:
        with self._lock:
            expiry = self._sessions.get(token or "")
            if expiry is None:
                return False
            if expiry <= time.monotonic():
                del self._sessions[token or ""]
                return False
            return True

    def close_session(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def count_asset(self, kind: str) -> None:
        with self._lock:
            self._assets[kind] += 1

    # --- bookings -------------------------------------------------------------------------
    def add_booking(self, fields: dict[str, str]) -> Booking:
        now = datetime.now()
        with self._lock:
            protocolo = f"AT-{now:%Y%m%d}-{len(self._bookings) + 1:06d}"
            booking = Booking(
                protocolo=protocolo,
                criado_em=now.isoformat(timespec="seconds"),
                transportadora_nome=dict(CARRIERS)[fields["transportadora"]],
                tipo_veiculo_nome=dict(VEHICLES)[fields["tipo_veiculo"]],
                **fields,
            )
            self._bookings.append(booking)
        return booking

    def bookings(self, lote: str | None = None) -> list[Booking]:
        with self._lock:
            return [b for b in self._bookings if lote is None or b.lote == lote]

    def find(self, protocolo: str) -> Booking | None:
        with self._lock:
            return next((b for b in self._bookings if b.protocolo == protocolo), None)

    # --- control --------------------------------------------------------------------------
    def take_failure(self) -> bool:
        """True when this request must answer 503 (consumes one of `fail_next`)."""
        with self._lock:
            if self.config.fail_next <= 0:
                return False
            self.config.fail_next -= 1
            return True

    def take_submit_expiry(self) -> bool:
        """True when this submit must find its session expired (consumes one of `expire_sessions_on_submit`)."""
        with self._lock:
            if self.config.expire_sessions_on_submit <= 0:
                return False
            self.config.expire_sessions_on_submit -= 1
            self._sessions.clear()
            return True

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if changes.get("expire_sessions"):
                self._sessions.clear()
            for key, value in changes.items():
                if key != "expire_sessions":
                    setattr(self.config, key, value)
            return self.config.as_json()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            return {
                "logins": self._logins,
                "failed_logins": self._failed_logins,
                "active_sessions": sum(1 for expiry in self._sessions.values() if expiry > now),
                "bookings": len(self._bookings),
                "assets": dict(self._assets),
                "config": self.config.as_json(),
            }


# --- validation -----------------------------------------------------------------------------

_CONFIG_FIELDS: dict[str, Callable[[Any], Any]] = {
    "captcha_lotes": lambda v: {str(x) for x in v} if isinstance(v, list) else _bad(),
    "captcha_all": lambda v: v if isinstance(v, bool) else _bad(),
    "login_captcha": lambda v: v if isinstance(v, bool) else _bad(),
    "fail_next": lambda v: _count(v),
    "fail_status": lambda v: v if _count(v) and 500 <= v <= 599 else _bad(),
    "retry_after_seconds": lambda v: _count(v),
    "session_ttl_seconds": lambda v: float(v) if _is_number(v) and v >= 0 else _bad(),
    "expire_sessions": lambda v: v if isinstance(v, bool) else _bad(),
    "expire_sessions_on_submit": lambda v: _count(v),
    "delay_ms": lambda v: _count(v),
    "full_slots": lambda v: {str(x) for x in v} if isinstance(v, list) else _bad(),
}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else _bad()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bad() -> Any:
    raise ValueError


def parse_config(body: Any) -> dict[str, Any]:
    """Validated changes for `PortalState.configure`; ValueError names the offending field."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    changes = {}
    for key, value in body.items():
        if key not in _CONFIG_FIELDS:
            raise ValueError(f"unknown field {key!r}; known: {', '.join(_CONFIG_FIELDS)}")
        try:
            changes[key] = _CONFIG_FIELDS[key](value)
        except (ValueError, TypeError):
            raise ValueError(f"invalid value for {key!r}: {value!r}") from None
    return changes


_REQUIRED = {
    "lote": "Informe o lote.",
    "data": "Informe a data.",
    "hora": "Informe o horário.",
    "transportadora": "Informe a transportadora.",
    "tipo_veiculo": "Informe o tipo de veículo.",
}


def validate_booking(form: dict[str, str], today: date) -> tuple[dict[str, str], list[str]]:
    """Cleaned fields and the portal's error messages (empty when the booking is acceptable)."""
    fields = {name: (form.get(name) or "").strip() for name in _REQUIRED}
    errors = [message for name, message in _REQUIRED.items() if not fields[name]]
    if fields["data"]:
        errors += _date_errors(fields["data"], today)
    if fields["hora"] and fields["hora"] not in SLOTS:
        errors.append(
            f"Horário inválido: {fields['hora']}. Horários disponíveis: {SLOTS[0]} a {SLOTS[-1]}, de hora em hora."
        )
    if fields["tipo_veiculo"] and fields["tipo_veiculo"] not in dict(VEHICLES):
        errors.append(f"Tipo de veículo inválido: {fields['tipo_veiculo']}.")
    if fields["transportadora"] and fields["transportadora"] not in dict(CARRIERS):
        errors.append(f"Transportadora inválida: {fields['transportadora']}.")
    return fields, errors


def _date_errors(value: str, today: date) -> list[str]:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return [f"Data inválida: {value}. Use o formato AAAA-MM-DD."]
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return [f"Data inválida: {value}. Use o formato AAAA-MM-DD."]
    if day < today:
        return [f"Data no passado: {day:%d/%m/%Y}. Escolha hoje ou uma data futura."]
    return []


# --- HTML -----------------------------------------------------------------------------------

TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="pt-BR">
<head><meta charset="utf-8"><title>{% block titulo %}{% endblock %} · Portal do Fornecedor Atacadão</title>
<link rel="stylesheet" href="/static/portal.css">
<script async src="/static/gtm.js"></script></head>
<body data-pagina="{% block pagina %}{% endblock %}">
<header>
  <img id="logo" src="/static/logo.png" alt="Atacadão" width="160" height="60">
  <h1>Portal do Fornecedor Atacadão <small>(simulador)</small></h1>
  {% if logado %}<nav>
    <a id="link-novo" href="/agendamentos/novo">Novo agendamento</a>
    <a id="link-agendamentos" href="/agendamentos">Agendamentos</a>
    <form method="post" action="/logout" style="display:inline"><button id="sair" type="submit">Sair</button></form>
  </nav>{% endif %}
</header>
<main>{% block conteudo %}{% endblock %}</main>
</body>
</html>""",
    "login.html": """{% extends "base.html" %}
{% block titulo %}Entrar{% endblock %}{% block pagina %}login{% endblock %}
{% block conteudo %}
<h2>Entrar</h2>
{% if expirou %}<p id="aviso-sessao" class="aviso">Sua sessão expirou. Entre novamente.</p>{% endif %}
{% if erro %}<p id="erro-login" class="erro" role="alert">{{ erro }}</p>{% endif %}
{% if captcha %}<div id="captcha" class="captcha" role="alert">
  <p>Verificação de segurança: confirme que você não é um robô para entrar.</p>
  <label for="captcha_resposta">Digite os caracteres da imagem</label>
  <input id="captcha_resposta" name="captcha_resposta" type="text" form="form-login">
</div>{% endif %}
<form id="form-login" method="post" action="/login">
  <label for="usuario">Usuário</label>
  <input id="usuario" name="usuario" type="text" value="{{ usuario }}" autocomplete="username">
  <label for="senha">Senha</label>
  <input id="senha" name="senha" type="password" autocomplete="current-password">
  <button id="entrar" type="submit">Entrar</button>
</form>
{% endblock %}""",
    "novo.html": """{% extends "base.html" %}
{% block titulo %}Novo agendamento{% endblock %}{% block pagina %}agendamento-novo{% endblock %}
{% block conteudo %}
<h2>Novo agendamento de entrega</h2>
{% if erro %}<div id="erro" class="erro" role="alert">{{ erro }}</div>{% endif %}
{% if lotado %}<div id="horario-indisponivel" class="erro" role="alert">{{ lotado }}</div>{% endif %}
{% if captcha %}<div id="captcha" class="captcha" role="alert">
  <p>Verificação de segurança: confirme que você não é um robô para continuar.</p>
  <label for="captcha_resposta">Digite os caracteres da imagem</label>
  <input id="captcha_resposta" name="captcha_resposta" type="text" form="form-agendamento">
</div>{% endif %}
{% if not captcha_bloqueia %}
<form id="form-agendamento" method="post" action="/agendamentos/novo" novalidate>
  <label for="lote">Lote / pedido</label> <input id="lote" name="lote" type="text" value="{{ f.lote }}">
  <label for="data">Data</label> <input id="data" name="data" type="date" value="{{ f.data }}">
  <label for="hora">Horário</label>
  <select id="hora" name="hora"><option value="">Selecione</option>
    {% for slot in slots %}
    <option value="{{ slot }}"{% if f.hora == slot %} selected{% endif %}>{{ slot }}</option>
    {% endfor %}
  </select>
  <label for="transportadora">Transportadora</label>
  <select id="transportadora" name="transportadora"><option value="">Selecione</option>
    {% for code, name in transportadoras %}
    <option value="{{ code }}"{% if f.transportadora == code %} selected{% endif %}>{{ name }}</option>
    {% endfor %}
  </select>
  <label for="tipo_veiculo">Tipo de veículo</label>
  <select id="tipo_veiculo" name="tipo_veiculo"><option value="">Selecione</option>
    {% for code, name in veiculos %}
    <option value="{{ code }}"{% if f.tipo_veiculo == code %} selected{% endif %}>{{ name }}</option>
    {% endfor %}
  </select>
  <button id="agendar" type="submit">Agendar</button>
</form>
{% endif %}
{% endblock %}""",
    "confirmacao.html": """{% extends "base.html" %}
{% block titulo %}Agendamento confirmado{% endblock %}{% block pagina %}agendamento-confirmado{% endblock %}
{% block conteudo %}
<h2>Agendamento confirmado</h2>
<p>Protocolo: <strong id="protocolo">{{ b.protocolo }}</strong></p>
<dl id="detalhes">
  <dt>Lote</dt><dd id="confirmacao-lote">{{ b.lote }}</dd>
  <dt>Data</dt><dd id="confirmacao-data">{{ b.data }}</dd>
  <dt>Horário</dt><dd id="confirmacao-hora">{{ b.hora }}</dd>
  <dt>Transportadora</dt><dd id="confirmacao-transportadora">{{ b.transportadora_nome }}</dd>
  <dt>Veículo</dt><dd id="confirmacao-tipo-veiculo">{{ b.tipo_veiculo_nome }}</dd>
</dl>
{% endblock %}""",
    "lista.html": """{% extends "base.html" %}
{% block titulo %}Agendamentos{% endblock %}{% block pagina %}agendamentos{% endblock %}
{% block conteudo %}
<h2>Agendamentos</h2>
<form id="form-busca" method="get" action="/agendamentos">
  <label for="busca-lote">Lote</label> <input id="busca-lote" name="lote" type="text" value="{{ lote or '' }}">
  <button id="buscar" type="submit">Buscar</button>
</form>
{% if bookings %}
<table id="lista-agendamentos">
  <thead><tr>
    <th>Protocolo</th><th>Lote</th><th>Data</th><th>Horário</th><th>Transportadora</th><th>Veículo</th>
  </tr></thead>
  <tbody>{% for b in bookings %}
    <tr class="agendamento" data-protocolo="{{ b.protocolo }}">
      <td class="protocolo">{{ b.protocolo }}</td><td class="lote">{{ b.lote }}</td>
      <td class="data">{{ b.data }}</td><td class="hora">{{ b.hora }}</td>
      <td class="transportadora">{{ b.transportadora_nome }}</td><td class="tipo_veiculo">{{ b.tipo_veiculo_nome }}</td>
    </tr>{% endfor %}
  </tbody>
</table>
{% else %}<p id="nenhum-agendamento">Nenhum agendamento encontrado.</p>{% endif %}
{% endblock %}""",
    "indisponivel.html": """{% extends "base.html" %}
{% block titulo %}Indisponível{% endblock %}{% block pagina %}indisponivel{% endblock %}
{% block conteudo %}
<h2 id="indisponivel">Serviço temporariamente indisponível. Tente novamente em instantes.</h2>
{% endblock %}""",
}


# --- app --------------------------------------------------------------------------------------


def create_app(username: str, password: str, *, session_ttl_seconds: float = DEFAULT_SESSION_TTL_SECONDS) -> Flask:
    app = Flask(__name__, static_folder=None)  # /static/ is the portal's own assets
    app.jinja_loader = DictLoader(TEMPLATES)
    state = PortalState(session_ttl_seconds)
    app.extensions[STATE_KEY] = state
    app.before_request(_outage_hook(state))
    _add_auth_routes(app, state, username, password)
    _add_booking_routes(app, state)
    _add_asset_routes(app, state)
    _add_control_routes(app, state)
    return app


def _outage_hook(state: PortalState) -> Callable[[], Response | None]:
    def simulate_outage() -> Response | None:
        if request.path.startswith(("/_sim/", "/static/", "/coleta")) or request.path == "/favicon.ico":
            return None  # control calls, assets and the browser's favicon fetch never consume `fail_next`
        delay_ms = state.config.delay_ms
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if state.take_failure():
            retry_after = state.config.retry_after_seconds
            headers = {"Retry-After": str(retry_after)} if retry_after else {}
            page = render_template("indisponivel.html", logado=False)
            return Response(page, status=state.config.fail_status, headers=headers)
        return None

    return simulate_outage


def _login_required(state: PortalState) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            token = request.cookies.get(SESSION_COOKIE)
            if not state.session_alive(token):
                return redirect("/login?expirou=1" if token else "/login")
            return view(*args, **kwargs)

        return guarded

    return decorator


def _add_auth_routes(app: Flask, state: PortalState, username: str, password: str) -> None:
    @app.get("/")
    def home() -> Any:
        return redirect("/agendamentos/novo")

    def login_page(usuario: str = "", erro: str | None = None, expirou: bool = False) -> str:
        captcha = state.config.login_captcha
        return render_template("login.html", expirou=expirou, usuario=usuario, erro=erro, captcha=captcha)

    @app.get("/login")
    def login_form() -> str:
        return login_page(expirou=bool(request.args.get("expirou")))

    @app.post("/login")
    def login() -> Any:
        usuario = request.form.get("usuario", "")
        if state.config.login_captcha:  # no robot can answer it: every login is refused
            state.count_failed_login()
            return login_page(usuario, erro="Confirme a verificação de segurança para entrar.")
        if not (_same(usuario, username) and _same(request.form.get("senha", ""), password)):
            state.count_failed_login()
            return login_page(usuario, erro="Usuário ou senha inválidos.")
        response = redirect("/agendamentos/novo", code=303)
        response.set_cookie(SESSION_COOKIE, state.open_session(), httponly=True, samesite="Lax")
        return response

    @app.post("/logout")
    def logout() -> Any:
        state.close_session(request.cookies.get(SESSION_COOKIE))
        response = redirect("/login", code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _add_booking_routes(app: Flask, state: PortalState) -> None:
    login_required = _login_required(state)

    def form_page(
        fields: dict[str, str], erro: str | None = None, captcha: bool = False, lotado: str | None = None
    ) -> str:
        # Like most server-rendered portals, a refused form comes back as 200 with an error box.
        return render_template(
            "novo.html",
            logado=True,
            f=fields,
            erro=erro,
            lotado=lotado,
            captcha=captcha,
            captcha_bloqueia=captcha and state.config.captcha_all,
            slots=SLOTS,
            veiculos=VEHICLES,
            transportadoras=CARRIERS,
        )

    @app.get("/agendamentos/novo")
    @login_required
    def booking_form() -> Any:
        return form_page(dict.fromkeys(_REQUIRED, ""), captcha=state.config.captcha_all)

    @app.post("/agendamentos/novo")
    def book() -> Any:
        if state.take_submit_expiry():
            return redirect("/login?expirou=1")
        return _book()

    @login_required
    def _book() -> Any:
        fields, errors = validate_booking(request.form.to_dict(), date.today())
        if fields["lote"] and state.config.wants_captcha(fields["lote"]):
            return form_page(fields, captcha=True)
        if errors:
            return form_page(fields, erro=" ".join(errors))
        if state.config.slot_is_full(fields["data"], fields["hora"]):
            return form_page(fields, lotado=_full_slot_message(fields["data"], fields["hora"]))
        booking = state.add_booking(fields)
        return redirect(f"/agendamentos/{booking.protocolo}", code=303)

    @app.get("/agendamentos/<protocolo>")
    @login_required
    def confirmation(protocolo: str) -> Any:
        booking = state.find(protocolo)
        if booking is None:
            abort(404)
        return render_template("confirmacao.html", logado=True, b=booking)

    @app.get("/agendamentos")
    @login_required
    def bookings() -> Any:
        lote = (request.args.get("lote") or "").strip() or None
        return render_template("lista.html", logado=True, lote=lote, bookings=state.bookings(lote))


def _full_slot_message(data: str, hora: str) -> str:
    return f"Horário indisponível: {hora} de {date.fromisoformat(data):%d/%m/%Y} está lotado. Escolha outro horário."


def _add_asset_routes(app: Flask, state: PortalState) -> None:
    @app.get("/static/<path:name>")
    def asset(name: str) -> Any:
        found = ASSETS.get(name)
        if found is None:
            abort(404)
        state.count_asset(found.kind)
        return Response(found.body, content_type=found.content_type)

    @app.post("/coleta")
    def analytics_beacon() -> Any:
        state.count_asset("analytics")
        return "", 204


def _add_control_routes(app: Flask, state: PortalState) -> None:
    @app.get("/_sim/bookings")
    def sim_bookings() -> Any:
        return jsonify([asdict(b) for b in state.bookings(request.args.get("lote"))])

    @app.get("/_sim/state")
    def sim_state() -> Any:
        return jsonify(state.snapshot())

    @app.post("/_sim/config")
    def sim_config() -> Any:
        try:
            changes = parse_config(request.get_json(silent=True))
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(state.configure(changes))

    @app.post("/_sim/reset")
    def sim_reset() -> Any:
        state.reset()
        return jsonify(state.snapshot())


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m filas_simulators.portal", description="Atacadão supplier-portal simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--session-ttl-seconds", type=float, default=DEFAULT_SESSION_TTL_SECONDS)
    args = parser.parse_args(argv)
    username = os.environ.get("FILAS_SIM_PORTAL_USERNAME", "")
    password = os.environ.get("FILAS_SIM_PORTAL_PASSWORD", "")
    if not username or not password:
        sys.exit("portal simulator: set FILAS_SIM_PORTAL_USERNAME and FILAS_SIM_PORTAL_PASSWORD (the login it accepts)")
    app = create_app(username, password, session_ttl_seconds=args.session_ttl_seconds)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"portal simulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
