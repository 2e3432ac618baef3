# The front door: `make install | run | test | test-soak | lint | bench`; for the chart: `make images | test-cluster`.
# `make test` needs Python 3.11 and, from Debian, redis-server, postgresql, chromium-headless-shell, chromium,
# faketime, curl and prometheus (.ci/run installs them).

UV_VERSION := 0.13.9
BIN := .venv/bin
PYTEST_ARGS ?=
# Chart tooling (tests/chart), built with Go (>= 1.26) into a repo-local, git-ignored directory when missing.
HELM_VERSION := v3.22.0
TOOLS := $(CURDIR)/.tools
# The CRDs of the chart's optional objects, generated for the cluster tests (scripts/generate-crds.sh).
CONTROLLER_GEN_VERSION := v0.23.0
KEDA_VERSION := v2.21.0
PROMETHEUS_OPERATOR_VERSION := v0.95.1
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

.PHONY: install run test test-soak test-cluster images cluster-binaries lint bench tools k8s chart-readme

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

# The four service images and the test-only simulator images (scripts/build-images.sh: podman, else docker;
# a machine that cannot pull the base image makes one with debootstrap). Cached: a rebuild after a code change
# reuses the dependency layers.
images:
	scripts/build-images.sh api portal-worker campaign-worker scheduler simulators

# The chart on a live Kubernetes (tests/cluster): the cluster of KUBECONFIG (kind, k3d, minikube: load the
# images into it first, see charts/filas/README.md), or else a single-node cluster started and stopped by the
# tests with the launcher in K8S_LOCAL, as root. Its Kubernetes binaries are built once (about 13 minutes on
# 2 cores) into /opt/k8s-local/bin and kept.
K8S_LOCAL ?= $(abspath $(CURDIR)/../shared/k8s-local)
test-cluster: install tools images cluster-binaries
	FILAS_K8S_LOCAL=$(K8S_LOCAL) FILAS_TEST_CRDS="$$(scripts/generate-crds.sh $(TOOLS)/crds $(CONTROLLER_GEN_VERSION) \
		$(KEDA_VERSION) $(PROMETHEUS_OPERATOR_VERSION))" $(BIN)/pytest -m cluster tests/cluster $(PYTEST_ARGS)

cluster-binaries:
	@if [ -z "$$KUBECONFIG" ] && [ -x "$(K8S_LOCAL)/build.sh" ]; then \
		PATH="$$PATH:$(dir $(GO))" bash "$(K8S_LOCAL)/build.sh"; fi

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
