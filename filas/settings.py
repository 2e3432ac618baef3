"""Settings read from the environment (FILAS_* variables), one table for every service.

Each service reads only what it needs; defaults suit a laptop running `make run`. Secrets are
`SecretStr` so that printing or logging a Settings object never shows them.
"""

from datetime import time
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from filas.singletons import process_wide

# What a booking does not need from the portal's pages (Playwright URL globs): fetching, decoding and
# running them is browser time per booking.
PORTAL_BLOCKED_URLS = (
    "**/*.{png,jpg,jpeg,gif,webp,avif,svg,ico}",
    "**/*.{woff,woff2,ttf,otf,eot}",
    "**/*.{mp4,webm,mp3,ogg}",
    "**/{gtm,gtag,analytics,ga}.js*",
    "**/*google-analytics.com/**",
    "**/*googletagmanager.com/**",
    "**/*hotjar.com/**",
    "**/*clarity.ms/**",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FILAS_", extra="ignore", populate_by_name=True)

    # --- shared infrastructure -------------------------------------------------------------
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis: broker, job state, locks")
    database_url: str = Field(
        "postgresql+psycopg://filas@127.0.0.1:5432/filas",
        description="SQLAlchemy URL of the domain database (PostgreSQL; SQLite for a quick local run)",
    )
    log_level: str = Field("INFO", description="Python log level of every service")
    log_format: Literal["json", "plain"] = Field(
        "json", description="json: one JSON object per line (production); plain: text for a terminal (`make run`)"
    )

    # --- broker and jobs --------------------------------------------------------------------
    broker_heartbeat_timeout_ms: int = Field(
        15_000, description="A worker silent this long is dead; its messages are redelivered"
    )
    broker_maintenance_chance: int = Field(
        200_000, description="Chance per million broker commands of running dead-worker recovery"
    )
    job_retention_seconds: int = Field(
        3600, description="How long a final job's state stays readable by id in Redis (then it is read from its row)"
    )
    job_lease_seconds: int = Field(
        30, description="A delivery's hold on its row, renewed while it works; another may take over once it lapses"
    )

    # --- metrics ------------------------------------------------------------------------------
    metrics_port: int = Field(
        9191, description="Port of the Prometheus metrics of a worker or the scheduler (the API serves /metrics on "
        "its own port); 0: a worker records and serves none"
    )
    metrics_host: str = Field("0.0.0.0", description="Address the worker and scheduler metrics listen on")
    metrics_dir: str = Field(
        "/tmp/filas-metrics",
        description="prometheus-client multiprocess files: a worker's in its worker/ subdirectory, the API's in "
        "api/; emptied when the service starts",
    )
    scheduler_liveness_seconds: float = Field(
        150, gt=0, description="The scheduler's /livez (on its metrics port) answers 503 once its loop has not run "
        "for this long (a standby tries the lock every second; the leader wakes at least once a minute)"
    )
    worker_liveness_seconds: float = Field(
        60, gt=0, description="A worker's /livez (on its metrics port) answers 503 once a worker process's consumers "
        "have not polled Redis for this long (a running job does not stop them)"
    )

    # --- api ----------------------------------------------------------------------------------
    api_tokens: SecretStr = Field(SecretStr(""), description="Comma-separated bearer tokens accepted by the API")
    webhook_token: SecretStr = Field(
        SecretStr(""), description="Secret of the Evolution API webhook: Evolution sends it as `Authorization: Bearer "
        "<token>` (the `headers` of its webhook configuration), or in the URL's `?token=` when it cannot; empty: the "
        "webhook refuses every event"
    )
    public_url: str = Field("", description="Base URL used in status_url links (empty: taken from the request)")
    api_max_body_bytes: int = Field(
        1_048_576, description="Largest request body the API reads; a larger one is refused with 413"
    )
    contacts_import_max_rows: int = Field(
        50_000, ge=1, description="Most data rows a campaign's contacts CSV may have; a larger file is refused (400)"
    )
    contacts_import_max_bytes: int = Field(
        16_777_216, ge=1, description="Largest contacts CSV upload (replaces FILAS_API_MAX_BODY_BYTES on that route: "
        "50,000 rows with a few template fields take 5 to 15 MB); a larger one is refused with 413"
    )

    # --- portal worker ----------------------------------------------------------------------
    portal_url: str = Field("http://127.0.0.1:8101", description="Base URL of the supplier portal")
    # The RQ guide's names, ATACADAO_USUARIO and ATACADAO_SENHA, are read too (the FILAS_ name wins).
    portal_username: str = Field(
        "", description="Supplier portal login (also read from `ATACADAO_USUARIO`)",
        validation_alias=AliasChoices("FILAS_PORTAL_USERNAME", "ATACADAO_USUARIO"),
    )
    portal_password: SecretStr = Field(
        SecretStr(""), description="Supplier portal password (also read from `ATACADAO_SENHA`)",
        validation_alias=AliasChoices("FILAS_PORTAL_PASSWORD", "ATACADAO_SENHA"),
    )
    portal_timeout_ms: int = Field(30_000, description="Timeout of one browser step on the portal")
    portal_time_limit_seconds: int = Field(
        1800, description="Longest one attempt of a booking job may run; past it the attempt is stopped and retried"
    )
    portal_evidence_max_bytes: int = Field(
        262_144, description="Largest screenshot, and largest page HTML, kept from a failed booking attempt (the "
        "screenshot is re-encoded smaller or dropped, the HTML cut)"
    )
    portal_evidence_per_integration: int = Field(
        10, description="Failed attempts' evidence kept per integration; the oldest beyond this is deleted"
    )
    portal_evidence_retention_days: int = Field(
        14, description="Failed attempts' evidence older than this is deleted by clean-up"
    )
    portal_evidence_timeout_ms: int = Field(
        5_000,
        description="Longest the capture of a failed attempt's screenshot and HTML may take; past it, none is kept",
    )
    chromium_path: str = Field(
        "", description="Chromium executable; empty: a headless shell first (Playwright's own, else Debian's "
        "chromium-headless-shell), else a full Chromium (/usr/bin/chromium); `filas-portal-session headed` needs "
        "a full one"
    )
    portal_browser_max_bookings: int = Field(
        100, ge=0, description="A worker thread's Chromium is closed after this many bookings and a fresh one "
        "launched for the next (as Celery's max-tasks-per-child); 0: never"
    )
    portal_browser_max_memory_mib: int = Field(
        512, ge=0, description="A worker thread's Chromium is closed after a booking that leaves its processes "
        "above this PSS, and a fresh one launched for the next; 0: not measured"
    )
    portal_driver_node_options: str = Field(
        "--max-semi-space-size=1", description="NODE_OPTIONS of Playwright's Node.js driver (one per worker "
        "thread, ~90 MiB): a 1 MiB young generation keeps ~20 MiB of each off at no measurable cost per booking; "
        "a NODE_OPTIONS set in the environment wins"
    )
    portal_browser_memory_check_seconds: float = Field(
        10, ge=0, description="A worker thread's Chromium has its memory measured after a booking at most this "
        "often (reading every process's PSS takes ~10 ms); 0: after every booking"
    )
    portal_blocked_urls: str = Field(
        " ".join(PORTAL_BLOCKED_URLS), description="Space-separated URL globs the browser does not fetch on the "
        "portal (images, fonts, media, analytics: a booking needs none of them); empty: fetch everything"
    )

    # --- campaign worker --------------------------------------------------------------------
    whatsapp_gateway: Literal["evolution", "meta"] = Field(
        "evolution", description="WhatsApp gateway adapter: evolution (Evolution API) or meta (WhatsApp Cloud API)"
    )
    evolution_url: str = Field("http://127.0.0.1:8102", description="Evolution API base URL")
    evolution_api_key: SecretStr = Field(SecretStr(""), description="Evolution API key (header apikey)")
    evolution_instance: str = Field("filas", description="Evolution API instance name")
    meta_url: str = Field("https://graph.facebook.com", description="WhatsApp Cloud API base URL (Graph API)")
    meta_api_version: str = Field("v21.0", description="Graph API version in the Cloud API's paths")
    meta_access_token: SecretStr = Field(SecretStr(""), description="WhatsApp Cloud API access token (Bearer)")
    meta_phone_number_id: str = Field("", description="WhatsApp Cloud API sending number's id")
    meta_app_secret: SecretStr = Field(
        SecretStr(""), description="Meta app secret: verifies the X-Hub-Signature-256 of Cloud API webhooks"
    )
    meta_verify_token: SecretStr = Field(
        SecretStr(""), description="Token Meta echoes when it verifies the webhook URL (GET hub.verify_token)"
    )
    meta_template_language: str = Field(
        "pt_BR", description="Language of Cloud API templates a campaign names none for"
    )
    gateway_timeout_seconds: float = Field(15.0, description="Timeout of one gateway HTTP call")
    whatsapp_rate_per_second: float = Field(
        0.0, ge=0, description="Messages per second per sending number, shared by every campaign worker replica; "
        "0: the gateway's default (evolution 1, meta 80, the Cloud API's default throughput)"
    )
    campaign_chunk_size: int = Field(
        200, ge=1, description="Contacts one delivery of a campaign send claims and sends; the next chunk is a new "
        "delivery of the same job (pause, cancel and worker shutdown take effect between chunks)"
    )
    campaign_send_concurrency: int = Field(
        8, ge=1, description="Sends of one chunk in flight at once (the rate limit still paces them)"
    )
    campaign_unknown_send_wait_seconds: int = Field(
        600, ge=0, description="A send cut off with its outcome unknown, that the gateway cannot look up (Cloud API) "
        "and no status webhook resolved, is sent again after this long"
    )
    opt_out_key: SecretStr = Field(
        SecretStr(""), description="Key of the hash opt-outs are kept as (set it in production; changing it forgets "
        "every opt-out)"
    )
    opt_out_words: str = Field(
        "SAIR,PARAR,STOP,CANCELAR,DESCADASTRAR,NAO QUERO",
        description="Comma-separated replies that opt a number out (case and accents ignored)",
    )
    follow_up_after_days: int = Field(
        1, ge=1, description="Days without an answer after a message before a contact gets a follow-up "
        "(a campaign may set its own)"
    )
    follow_up_max: int = Field(
        3, ge=0, description="Follow-ups a contact who never answers receives at most (a campaign may set its own)"
    )
    contact_retention_days: int = Field(
        180, ge=1, description="Contacts and their messages older than this are deleted by clean-up (opt-outs stay)"
    )

    # --- scheduler ----------------------------------------------------------------------------
    scheduler_lock_ttl_seconds: int = Field(
        30, description="A scheduler that stops renewing its lock this long is replaced by a standby"
    )
    schedule_timezone: str = Field("America/Fortaleza", description="Time zone of every cron schedule")
    follow_up_cron: str = Field("0 9 * * *", description="When the daily campaign follow-up runs")
    follow_up_catch_up_until: time = Field(
        time(12, 0),
        description="A follow-up missed at its cron time (scheduler or workers down) still runs once until this "
        "local time the same day; after it, a follow-up message does nothing",
    )
    cleanup_cron: str = Field("0 */6 * * *", description="When the clean-up runs")
    reconcile_cron: str = Field("* * * * *", description="When accepted work missing from Redis is re-enqueued")
    reconcile_grace_seconds: int = Field(
        120, description="Age after which waiting work with no job in Redis is re-enqueued"
    )
    log_retention_days: int = Field(90, description="Portal step logs older than this are deleted by clean-up")


@process_wide()
def get_settings() -> Settings:
    return Settings()


def markdown_table() -> str:
    """The documented table of settings (docs/configuration.md is this, checked by a test)."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default.get_secret_value() if isinstance(field.default, SecretStr) else field.default
        shown = "(secret, empty)" if isinstance(field.default, SecretStr) else f"`{default}`"
        rows.append(f"| `FILAS_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
