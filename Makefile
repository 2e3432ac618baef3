# The front door: `make install | run | test | lint | bench`.
# `make test` needs Python 3.11 and, from Debian, redis-server, postgresql, chromium, faketime, curl and
# prometheus (.ci/run installs them).

UV_VERSION := 0.13.9
BIN := .venv/bin
PYTEST_ARGS ?=

.PHONY: install run test lint bench

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install "uv==$(UV_VERSION)" \
		|| python3 -m pip install --break-system-packages "uv==$(UV_VERSION)"
	@if command -v uv >/dev/null 2>&1; then uv sync --all-packages --frozen; \
		else python3 -m uv sync --all-packages --frozen; fi

run: install
	$(BIN)/python -m filas_devtools.local_run

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .

bench: install
	@set -e; for script in bench/[!_]*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; break; }; \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done
