#!/usr/bin/env bash
# The CustomResourceDefinitions the chart's optional objects need (KEDA's ScaledObject and TriggerAuthentication,
# prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule), generated with controller-gen from the
# projects' own Go API modules at pinned versions, for the cluster tests (tests/cluster). Nothing is copied into
# the repository: the output is cached under OUT (one directory per set of versions).
#
#   scripts/generate-crds.sh OUT CONTROLLER_GEN_VERSION KEDA_VERSION PROMETHEUS_OPERATOR_VERSION
#
# Needs Go (GO, else go on PATH, else /usr/local/go/bin/go) and the Go module proxy. Prints the output directory.
set -euo pipefail

out=$1 controller_gen_version=$2 keda_version=$3 prometheus_operator_version=$4
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
crds=$out/keda-$keda_version-prometheus-operator-$prometheus_operator_version
if compgen -G "$crds/*.yaml" >/dev/null; then echo "$crds"; exit 0; fi

tools=$out/controller-gen/$controller_gen_version
if [[ ! -x $tools/controller-gen ]]; then
    GOBIN=$tools GOFLAGS=-buildvcs=false "$GO" install -trimpath -ldflags "-s -w" \
        "sigs.k8s.io/controller-tools/cmd/controller-gen@$controller_gen_version" >&2
fi

# controller-gen loads the API packages from a module that requires them.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
keda=github.com/kedacore/keda/v2
monitoring=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
printf 'module local/filas-crds\n\ngo 1.26\n' >"$src/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "%s/apis/keda/v1alpha1"\n\t_ "%s/v1"\n)\n' \
    "$keda" "$monitoring" >"$src/tools.go"
(
    cd "$src"
    "$GO" get "$keda@$keda_version" "$monitoring@$prometheus_operator_version" >&2
    "$GO" mod tidy >&2
    mkdir -p "$crds.partial"
    "$tools/controller-gen" crd:allowDangerousTypes=true \
        paths="$keda/apis/keda/v1alpha1" paths="$monitoring/v1" output:crd:dir="$crds.partial" >&2
)
rm -rf "$crds" && mv "$crds.partial" "$crds"
echo "$crds"
