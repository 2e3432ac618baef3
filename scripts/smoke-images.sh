#!/usr/bin/env bash
# Smoke-test the four Filas images built by scripts/build-images.sh: start each briefly against a Redis and a
# PostgreSQL reachable from this host (containers use --network host) and check that it comes up cleanly.
#
#   scripts/smoke-images.sh [options]
#
# Options:
#   --engine podman|docker  container engine (default: podman if installed, else docker)
#   --prefix NAME           image name prefix (default: $IMAGE_PREFIX, else "filas")
#   --tag TAG               image tag (default: $TAG, else "latest")
#   --redis-url URL         default: $FILAS_REDIS_URL, else redis://127.0.0.1:6379/0
#   --database-url URL      default: $FILAS_DATABASE_URL, else postgresql+psycopg://filas@127.0.0.1:5432/filas
#   --start-deps            start a throw-away redis-server and PostgreSQL on free ports for the test (needs
#                           redis-server and PostgreSQL's binaries; as root, PostgreSQL runs as user postgres)
#   --api-port PORT         port the API listens on during the test (default: a free one)
#   --stay SECONDS          how long each worker must stay up after it is ready (default: 5)
#
# Use a throw-away Redis and database: the test applies the migrations, and the scheduler enqueues its start-up
# ticks. Checks, for every image: runs as uid 10001, carries only its own service's packages (the API has no
# Playwright), no uv or compilers, OCI labels; then `filas-migrate` from the API image, the API's /healthz and
# /readyz, each worker's "Worker process is ready for action", the scheduler's "Registered periodic actors",
# no error in any log, a prompt stop on SIGTERM, and a headless Chromium launched by Playwright in the portal
# worker image. Containers run hardened: read-only root, no capabilities, no-new-privileges, /tmp a tmpfs.
set -euo pipefail

cd "$(dirname "$0")/.."

engine=${CONTAINER_ENGINE:-}
prefix=${IMAGE_PREFIX:-filas}
tag=${TAG:-latest}
redis_url=${FILAS_REDIS_URL:-redis://127.0.0.1:6379/0}
database_url=${FILAS_DATABASE_URL:-postgresql+psycopg://filas@127.0.0.1:5432/filas}
start_deps=0
api_port=
stay=5

die() { echo "smoke: $*" >&2; exit 2; }
log() { echo "smoke: $*" >&2; }

while (($#)); do
    case $1 in
        --engine) engine=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --redis-url) redis_url=$2; shift 2 ;;
        --database-url) database_url=$2; shift 2 ;;
        --start-deps) start_deps=1; shift ;;
        --api-port) api_port=$2; shift 2 ;;
        --stay) stay=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

if [[ -z $engine ]]; then
    if command -v podman >/dev/null 2>&1; then engine=podman; else engine=docker; fi
fi
command -v "$engine" >/dev/null 2>&1 || die "$engine is not installed"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_id=$$
containers=()
deps_dir=
pg_ctl=
cleanup() {
    local name
    for name in "${containers[@]}"; do "$engine" rm -f "$name" >/dev/null 2>&1 || true; done
    if [[ -n $deps_dir ]]; then
        [[ -f $deps_dir/redis.pid ]] && kill "$(cat "$deps_dir/redis.pid")" 2>/dev/null || true
        if [[ -n $pg_ctl && -d $deps_dir/pg/data ]]; then
            as_pg "$pg_ctl" -D "$deps_dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$deps_dir"
    fi
}
trap cleanup EXIT

as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

# --- optional throw-away Redis and PostgreSQL ------------------------------------------------------------------
if ((start_deps)); then
    command -v redis-server >/dev/null 2>&1 || die "--start-deps needs redis-server"
    pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [[ -x $pg_bin/initdb ]] || pg_bin=$(pg_config --bindir 2>/dev/null || true)
    [[ -x $pg_bin/initdb ]] || die "--start-deps needs PostgreSQL's initdb and pg_ctl"
    pg_ctl=$pg_bin/pg_ctl
    deps_dir=$(mktemp -d /var/tmp/filas-smoke-deps.XXXXXX)
    chmod 755 "$deps_dir"
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$deps_dir/redis.pid" --logfile "$deps_dir/redis.log" --dir "$deps_dir"
    pg_port=$(free_port)
    mkdir -p "$deps_dir/pg"
    ((EUID == 0)) && chown postgres: "$deps_dir/pg"
    as_pg "$pg_bin/initdb" -D "$deps_dir/pg/data" -A trust -U postgres >"$deps_dir/initdb.log" 2>&1 \
        || die "initdb failed: $(tail -3 "$deps_dir/initdb.log")"
    as_pg "$pg_ctl" -D "$deps_dir/pg/data" -l "$deps_dir/pg/server.log" -w \
        -o "-p $pg_port -k $deps_dir/pg -c listen_addresses=127.0.0.1" start >/dev/null
    as_pg "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres \
        -c "CREATE ROLE filas LOGIN" -c "CREATE DATABASE filas OWNER filas" >/dev/null
    redis_url=redis://127.0.0.1:$redis_port/0
    database_url=postgresql+psycopg://filas@127.0.0.1:$pg_port/filas
    log "started redis-server on $redis_port and PostgreSQL on $pg_port"
fi
log "Redis $redis_url, database ${database_url//:*@/:***@}"

# --- bookkeeping -------------------------------------------------------------------------------------------------
results=()
failures=0
pass() { results+=("PASS  $1"); log "ok: $1"; }
fail() { results+=("FAIL  $1"); failures=$((failures + 1)); log "FAILED: $1"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

hardening=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
env_args=(-e "FILAS_REDIS_URL=$redis_url" -e "FILAS_DATABASE_URL=$database_url" -e FILAS_LOG_LEVEL=INFO)
run_once() { "$engine" run --rm --network host "${hardening[@]}" "${env_args[@]}" "$@"; }

image_of() { echo "$prefix-$1:$tag"; }
for service in api portal-worker campaign-worker scheduler; do
    "$engine" image inspect "$(image_of "$service")" >/dev/null 2>&1 \
        || die "image $(image_of "$service") not found; build it with scripts/build-images.sh"
done

# --- what is inside each image ----------------------------------------------------------------------------------
# absent/present: importable top-level packages that must (not) be there.
declare -A present=(
    [api]="filas filas_api flask gunicorn alembic"
    [portal-worker]="filas filas_portal playwright dramatiq"
    [campaign-worker]="filas filas_campaigns httpx dramatiq"
    [scheduler]="filas filas_scheduler periodiq dramatiq"
)
declare -A absent=(
    [api]="playwright periodiq filas_portal filas_campaigns filas_scheduler filas_simulators filas_devtools pytest"
    [portal-worker]="flask gunicorn periodiq filas_api filas_campaigns filas_scheduler filas_simulators pytest"
    [campaign-worker]="playwright flask gunicorn periodiq filas_api filas_portal filas_scheduler pytest"
    [scheduler]="playwright flask gunicorn filas_api filas_portal filas_campaigns pytest"
)
for service in api portal-worker campaign-worker scheduler; do
    image=$(image_of "$service")
    check "$service: runs as uid 10001" test "$(run_once "$image" id -u)" = 10001
    check "$service: has ${present[$service]}; lacks ${absent[$service]}" run_once "$image" python -c '
import importlib.util, sys
present, absent = sys.argv[1].split(), sys.argv[2].split()
missing = [m for m in present if importlib.util.find_spec(m) is None]
extra = [m for m in absent if importlib.util.find_spec(m) is not None]
print("missing:", missing, "unexpected:", extra) if missing or extra else None
sys.exit(1 if missing or extra else 0)' "${present[$service]}" "${absent[$service]}"
    check "$service: no uv, pip or compilers in the runtime image" \
        run_once "$image" sh -c '! command -v uv && ! command -v gcc && ! command -v cc && ! command -v make && ! test -e /opt/venv/bin/pip' >/dev/null
    image_env=$("$engine" image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$image")
    # shellcheck disable=SC2016  # the inner script is single-quoted on purpose: bash -c receives "$1"
    check "$service: no FILAS_* setting (but FILAS_CHROMIUM_PATH) and no secret in the image's environment" \
        bash -c '! grep -E "^FILAS_" <<<"$1" | grep -qv "^FILAS_CHROMIUM_PATH=" && ! grep -qiE "secret|passw|token|key=" <<<"$1"' _ "$image_env"
    labels=$("$engine" image inspect --format \
        '{{index .Config.Labels "org.opencontainers.image.title"}}|{{index .Config.Labels "org.opencontainers.image.version"}}|{{index .Config.Labels "org.opencontainers.image.source"}}' "$image")
    check "$service: OCI labels title|version|source = $labels" \
        test "$(cut -d'|' -f1 <<<"$labels")" = "filas-$service" -a -n "$(cut -d'|' -f2 <<<"$labels")" -a -n "$(cut -d'|' -f3 <<<"$labels")"
done

# --- migrations, from the API image (as a Kubernetes init container / Job would) ---------------------------------
api_image=$(image_of api)
check "api: filas-migrate applies the migrations" run_once "$api_image" filas-migrate
check "api: the database is at the head revision" run_once "$api_image" python -c '
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from filas.db.migrate import alembic_config
from filas.settings import get_settings
url = get_settings().database_url
head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
with create_engine(url).connect() as connection:
    current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
print("database revision", current, "head", head)
raise SystemExit(current != head)'

# --- long-running containers ---------------------------------------------------------------------------------------
start() {  # start NAME IMAGE [ENV...]: a detached container with the hardening flags
    local name=$1 image=$2; shift 2
    containers+=("$name")
    "$engine" rm -f "$name" >/dev/null 2>&1 || true
    "$engine" run -d --name "$name" --network host "${hardening[@]}" "${env_args[@]}" "$@" "$image" >/dev/null
}
running() { [[ $("$engine" inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }
wait_for_log() {  # wait_for_log NAME PATTERN SECONDS
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        "$engine" logs "$1" 2>&1 | grep -q -- "$2" && return 0
        running "$1" || return 1
        sleep 0.5
    done
    return 1
}
clean_log() {  # no traceback or error-level line in the container's log
    ! "$engine" logs "$1" 2>&1 | grep -E 'Traceback|CRITICAL|\bERROR\b|Unhandled error'
}
up_and_clean() { running "$1" && clean_log "$1"; }
stop_promptly() {  # SIGTERM; passes when the container exits on its own (not SIGKILLed) within 20 s
    local started code
    started=$(date +%s.%N)
    "$engine" stop -t 20 "$1" >/dev/null
    code=$("$engine" inspect --format '{{.State.ExitCode}}' "$1")
    log "$1 stopped in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, exit code $code"
    [[ $code != 137 ]]
}
show_logs() { log "last lines of $1:"; "$engine" logs "$1" 2>&1 | tail -40 | sed 's/^/    /' >&2; }

# The API.
api_port=${api_port:-$(free_port)}
name=filas-smoke-api-$run_id
start "$name" "$api_image" -e "FILAS_API_BIND=127.0.0.1:$api_port"
healthy=0
for _ in $(seq 60); do
    if curl -fsS "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1; then healthy=1; break; fi
    running "$name" || break
    sleep 0.5
done
check "api: GET /healthz answers 200" test "$healthy" = 1
readyz=$(curl -sS -w ' HTTP %{http_code}' "http://127.0.0.1:$api_port/readyz" 2>&1 || true)
log "/readyz: $readyz"
check "api: GET /readyz answers 200 (Redis and database ok)" grep -q 'HTTP 200$' <<<"$readyz"
sleep 2
check "api: still running, no error in its log" up_and_clean "$name"
check "api: stops promptly on SIGTERM" stop_promptly "$name"
((failures)) && show_logs "$name"

# The workers and the scheduler.
declare -A ready_line=(
    [portal-worker]="Worker process is ready for action"
    [campaign-worker]="Worker process is ready for action"
    [scheduler]="Registered periodic actors"
)
for service in portal-worker campaign-worker scheduler; do
    before=$failures
    name=filas-smoke-$service-$run_id
    start "$name" "$(image_of "$service")"
    check "$service: logs \"${ready_line[$service]}\"" wait_for_log "$name" "${ready_line[$service]}" 60
    sleep "$stay"
    check "$service: still running ${stay} s later, no error in its log" up_and_clean "$name"
    check "$service: stops promptly on SIGTERM" stop_promptly "$name"
    ((failures > before)) && show_logs "$name"
done

# The portal worker's browser: Playwright launches the image's Chromium the way the worker does.
check "portal-worker: Playwright launches headless Chromium (FILAS_CHROMIUM_PATH)" \
    run_once --shm-size 256m "$(image_of portal-worker)" python -c '
from playwright.sync_api import sync_playwright
from filas.settings import get_settings
from filas_portal.browser import launch_browser, resolve_chromium
with sync_playwright() as playwright:
    choice = resolve_chromium(get_settings().chromium_path, playwright)
    browser = launch_browser(playwright, choice)
    page = browser.new_page()
    page.set_content("<title>filas</title><p>olá</p>")
    print(choice.description, "| Chromium", browser.version, "| title:", page.title())
    assert page.title() == "filas"
    browser.close()'

echo
printf '%s\n' "${results[@]}"
echo
if ((failures)); then
    echo "smoke: $failures check(s) failed"
    exit 1
fi
echo "smoke: all ${#results[@]} checks passed"
