# The front door: `make install | run | test | test-soak | lint | bench`.
# `make test` needs Python 3.11 and, from Debian, redis-server, postgresql, chromium, faketime, curl and
# prometheus (.ci/run installs them).

UV_VERSION := 0.13.9
BIN := .venv/bin
PYTEST_ARGS ?=
# Chart tooling (tests/chart), built with Go (>= 1.26) into a repo-local, git-ignored directory when missing.
HELM_VERSION := v3.22.0
TOOLS := $(CURDIR)/.tools
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

.PHONY: install run test test-soak lint bench tools k8s chart-readme

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install "uv==$(UV_VERSION)" \
		|| python3 -m pip install --break-system-packages "uv==$(UV_VERSION)"
	@if command -v uv >/dev/null 2>&1; then uv sync --all-packages --frozen; \
		else python3 -m uv sync --all-packages --frozen; fi

run: install
	$(BIN)/python -m filas_devtools.local_run

test: lint tools
	$(BIN)/pytest $(PYTEST_ARGS)

# Production volumes (1,000 bookings through SIGKILLs...): tens of minutes; CI runs it after `make test`.
test-soak: install
	$(BIN)/pytest -m soak $(PYTEST_ARGS)

# helm, pinned: .tools/bin/helm links to .tools/helm/<version>/helm, so a version bump builds the new one.
tools: $(TOOLS)/helm/$(HELM_VERSION)/helm
	@mkdir -p $(TOOLS)/bin && ln -sfn $(TOOLS)/helm/$(HELM_VERSION)/helm $(TOOLS)/bin/helm

$(TOOLS)/helm/$(HELM_VERSION)/helm:
	@test -x "$(GO)" || { echo "make tools: Go >= 1.26 is needed to build helm $(HELM_VERSION) (https://go.dev/dl/)" >&2; exit 1; }
	GOBIN=$(TOOLS)/helm/$(HELM_VERSION) GOFLAGS=-buildvcs=false "$(GO)" install -trimpath \
		-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)" \
		helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# k8s/base from the chart; the chart README's values table from values.yaml and values.schema.json.
k8s: install tools
	$(BIN)/python scripts/render_k8s.py

chart-readme: install
	$(BIN)/python scripts/chart_readme.py

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .

bench: install
	@set -e; for script in bench/[!_]*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; break; }; \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done
