"""The operations page's doors, in-process: a session only through the login form with an API token, every
POST with the session's CSRF token, and errors as pages (4xx for bad input, 503 with Redis or PostgreSQL
down), never a JSON body or a 500."""

import re
import uuid

import pytest

from filas.settings import Settings

TOKEN = "test-token"  # accepted by the `client` fixture
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page) -> str:
    return CSRF.search(page.get_data(as_text=True)).group(1)


def log_in(client, token: str = TOKEN, next_page: str = "/ops/"):
    form = client.get("/ops/login")
    return client.post("/ops/login", data={"csrf_token": csrf_of(form), "token": token, "next": next_page})


@pytest.fixture
def signed_in(client):
    assert log_in(client).status_code == 303
    return client


def test_without_a_session_a_page_redirects_to_the_login(client):
    reply = client.get("/ops/", headers={"Authorization": f"Bearer {TOKEN}"})  # the bearer header is for the API

    assert reply.status_code == 302
    assert reply.headers["Location"] == "/ops/login?next=/ops/"


def test_a_wrong_token_is_refused(client):
    reply = log_in(client, token="not-the-token")

    assert reply.status_code == 401
    assert "Token recusado" in reply.get_data(as_text=True)
    assert client.get("/ops/").status_code == 302


def test_the_right_token_opens_a_strict_httponly_session(client):
    reply = log_in(client, next_page="/ops/jobs/" + str(uuid.uuid4()))

    assert reply.status_code == 303 and reply.headers["Location"].startswith("/ops/jobs/")
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith("filas_ops_session=")
    assert {"HttpOnly", "SameSite=Strict", "Path=/ops"} <= {part.strip() for part in cookie.split(";")}
    assert TOKEN not in cookie
    page = client.get("/ops/")
    assert page.status_code == 200 and "Filas" in page.get_data(as_text=True)


def test_the_login_only_sends_people_on_to_the_operations_page(client):
    assert log_in(client, next_page="//elsewhere.example/ops/").headers["Location"] == "/ops/"


def test_a_post_without_the_csrf_token_is_refused(signed_in):
    job = f"/ops/jobs/{uuid.uuid4()}/cancel"

    without = signed_in.post(job)
    wrong = signed_in.post(job, data={"csrf_token": "forged"})

    assert (without.status_code, wrong.status_code) == (400, 400)
    assert "CSRF" in without.get_data(as_text=True) and without.mimetype == "text/html"


def test_the_login_form_needs_its_csrf_token_too(client):
    assert client.post("/ops/login", data={"token": TOKEN}).status_code == 400


def test_logging_out_ends_the_session(signed_in):
    page = signed_in.get("/ops/")
    signed_in.post("/ops/logout", data={"csrf_token": csrf_of(page)})

    assert signed_in.get("/ops/").status_code == 302


@pytest.mark.parametrize("path", [f"/ops/jobs/{uuid.uuid4()}", "/ops/jobs/not-an-id", "/ops/nothing-here",
                                  f"/ops/dead-letters/no-such-queue/{uuid.uuid4()}/requeue"])
def test_unknown_pages_and_ids_are_404_pages(signed_in, path):
    reply = signed_in.get(path)

    assert reply.status_code == 404
    assert reply.mimetype == "text/html"


def test_redis_down_is_a_503_page(configure, signed_in):
    configure(FILAS_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there

    reply = signed_in.get("/ops/")

    assert reply.status_code == 503
    assert "indisponível" in reply.get_data(as_text=True) and reply.mimetype == "text/html"


def test_the_database_down_is_a_503_page(configure, signed_in):
    configure(FILAS_DATABASE_URL="postgresql+psycopg://filas@127.0.0.1:1/filas")

    reply = signed_in.get(f"/ops/jobs/{uuid.uuid4()}")

    assert reply.status_code == 503
    assert "127.0.0.1" not in reply.get_data(as_text=True)


def test_without_any_token_configured_the_page_is_closed():
    from filas_api.app import create_app

    reply = create_app(Settings(api_tokens="")).test_client().get("/ops/login")

    assert reply.status_code == 503 and "FILAS_API_TOKENS" in reply.get_data(as_text=True)
