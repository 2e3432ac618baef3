#!/usr/bin/env bash
# Build the four Filas service images from the repository root (the build context), with podman or docker.
#
#   scripts/build-images.sh [options] [api|portal-worker|campaign-worker|scheduler|simulators ...]
#
# `simulators` are the test-only images of the third parties' simulators (simulators/Dockerfile, one image per
# simulator: PREFIX-portal-sim, PREFIX-whatsapp-sim, PREFIX-meta-sim) the cluster tests deploy; built only when
# named (`make images` names them).
# Options:
#   --engine podman|docker   container engine (default: podman if installed, else a docker that answers)
#   --base IMAGE             base image (default: $BASE_IMAGE, else python:3.11-slim-bookworm)
#   --local-base             use a Debian bookworm base made here with debootstrap (machines that cannot pull);
#                            made once, kept as localhost/filas-base:py3.11-bookworm
#   --rebuild-local-base     make that local base again even if it exists
#   --tag TAG                image tag (default: the service's version from its pyproject.toml, plus "latest")
#   --prefix NAME            image name prefix (default: $IMAGE_PREFIX, else "filas"; images are PREFIX-SERVICE)
#   --chromium-source S      portal worker browser, a headless shell: system (Debian's chromium-headless-shell,
#                            default) or playwright
#   --extra-ca FILE          CA bundle passed as the build secret "extra_ca" (for an intercepting proxy);
#                            default: $EXTRA_CA, else /etc/ssl/certs/ca-certificates.crt when it exists
#   --no-extra-ca            pass no CA secret
#   --no-cache               build without the layer cache
#   --base-only              make sure the base image exists (making the local one if needed), build nothing
#
# When the default base image is neither present nor pullable and debootstrap is available (as root), the
# local base is made automatically. Prints each image's size and build time at the end.
set -euo pipefail

cd "$(dirname "$0")/.."

ALL_SERVICES=(api portal-worker campaign-worker scheduler)
SIMULATORS=(portal-sim whatsapp-sim meta-sim)
DEFAULT_BASE=python:3.11-slim-bookworm
LOCAL_BASE=localhost/filas-base:py3.11-bookworm
LOCAL_DEBIAN=localhost/filas-debian:bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

engine=${CONTAINER_ENGINE:-}
base=${BASE_IMAGE:-}
local_base=0
rebuild_local_base=0
tag=${TAG:-}
prefix=${IMAGE_PREFIX:-filas}
chromium_source=${CHROMIUM_SOURCE:-system}
extra_ca=${EXTRA_CA:-}
[[ -z $extra_ca && -r /etc/ssl/certs/ca-certificates.crt ]] && extra_ca=/etc/ssl/certs/ca-certificates.crt
no_cache=()
base_only=0
services=()

die() { echo "build-images: $*" >&2; exit 1; }
log() { echo "build-images: $*" >&2; }

while (($#)); do
    case $1 in
        --engine) engine=$2; shift 2 ;;
        --base) base=$2; shift 2 ;;
        --local-base) local_base=1; shift ;;
        --rebuild-local-base) local_base=1; rebuild_local_base=1; shift ;;
        --tag) tag=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --chromium-source) chromium_source=$2; shift 2 ;;
        --extra-ca) extra_ca=$2; shift 2 ;;
        --no-extra-ca) extra_ca=; shift ;;
        --no-cache) no_cache=(--no-cache); shift ;;
        --base-only) base_only=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) services+=("$1"); shift ;;
    esac
done
((${#services[@]})) || services=("${ALL_SERVICES[@]}")
# `simulators` names the three simulator images.
requested=("${services[@]}")
services=()
for service in "${requested[@]}"; do
    if [[ $service == simulators ]]; then services+=("${SIMULATORS[@]}"); else services+=("$service"); fi
done
# The directory of an image's Dockerfile and pyproject.toml.
source_dir() { if [[ $1 == *-sim ]]; then echo simulators; else echo "services/$1"; fi; }
((base_only)) || for service in "${services[@]}"; do
    [[ -f $(source_dir "$service")/Dockerfile ]] \
        || die "no such image: $service (one of: ${ALL_SERVICES[*]} simulators ${SIMULATORS[*]})"
done
case $chromium_source in system|playwright) ;; *) die "--chromium-source must be system or playwright" ;; esac
[[ -z $extra_ca || -r $extra_ca ]] || die "CA bundle $extra_ca is not readable"

# --- the engine --------------------------------------------------------------------------------------------
if [[ -z $engine ]]; then
    if command -v podman >/dev/null 2>&1; then
        engine=podman
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        engine=docker
    else
        die "neither podman nor a running docker was found"
    fi
fi
command -v "$engine" >/dev/null 2>&1 || die "$engine is not installed"

image_exists() {
    if [[ $engine == podman ]]; then podman image exists "$1"; else docker image inspect "$1" >/dev/null 2>&1; fi
}

# --- the local base: Debian bookworm (debootstrap) + Debian's python3 (3.11), like python:3.11-slim-bookworm --
make_local_base() {
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is needed to make the local base (apt-get install debootstrap)"
    ((EUID == 0)) || die "debootstrap needs root to make the local base"
    local rootfs started
    started=$(date +%s)
    rootfs=$(mktemp -d /var/tmp/filas-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' RETURN
    log "making $LOCAL_DEBIAN with debootstrap from $DEBIAN_MIRROR"
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >/var/tmp/filas-debootstrap.log 2>&1 \
        || die "debootstrap failed, see /var/tmp/filas-debootstrap.log"
    # The same sources as the official Debian image (security updates included: chromium-headless-shell lives there).
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # What debian:bookworm-slim does: no docs, man pages or translations; no apt caches in layers.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
    find "$rootfs/usr/share/doc" -mindepth 2 -not -name copyright -not -type d -delete 2>/dev/null || true
    rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda}/* "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/debootstrap
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    tar -C "$rootfs" --numeric-owner -c . | "$engine" import --change 'CMD ["bash"]' - "$LOCAL_DEBIAN" >/dev/null
    log "making $LOCAL_BASE (python3 3.11 from Debian, ca-certificates)"
    "$engine" build -t "$LOCAL_BASE" -f - . <<EOF
FROM $LOCAL_DEBIAN
RUN apt-get update && apt-get -y upgrade \\
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log
ENV LANG=C.UTF-8
CMD ["python3"]
EOF
    log "local base ready in $(($(date +%s) - started)) s"
}

if ((local_base)); then
    [[ -z $base || $base == "$LOCAL_BASE" ]] || die "--local-base and --base $base contradict each other"
    base=$LOCAL_BASE
    if ((rebuild_local_base)) || ! image_exists "$LOCAL_BASE"; then make_local_base; fi
elif [[ -z $base ]]; then
    base=$DEFAULT_BASE
    if ! image_exists "$base" && ! "$engine" pull "$base" >/dev/null 2>&1; then
        if image_exists "$LOCAL_BASE"; then
            log "cannot pull $base; using the local base $LOCAL_BASE"
        elif command -v debootstrap >/dev/null 2>&1 && ((EUID == 0)); then
            log "cannot pull $base; making a local base with debootstrap instead"
            make_local_base
        else
            die "cannot pull $base and cannot make a local base (needs root and debootstrap); see docs/images.md"
        fi
        base=$LOCAL_BASE
    fi
fi

if ((base_only)); then echo "$base"; exit 0; fi

# --- the images ----------------------------------------------------------------------------------------------
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $revision != unknown ]] && [[ -n $(git status --porcelain 2>/dev/null | head -1) ]]; then
    revision="$revision-dirty"
fi
source_url=${SOURCE_URL:-$(git config --get remote.origin.url 2>/dev/null || true)}
source_url=${source_url:-unknown}

secret=()
if [[ -n $extra_ca ]]; then
    secret=(--secret "id=extra_ca,src=$extra_ca")
    if [[ $engine == docker ]]; then export DOCKER_BUILDKIT=1; fi
fi

declare -A seconds
for service in "${services[@]}"; do
    version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$(source_dir "$service")/pyproject.toml" | head -1)
    image="$prefix-$service:${tag:-$version}"
    tags=(-t "$image")
    [[ -n $tag ]] || tags+=(-t "$prefix-$service:latest")
    extra=()
    [[ $service == portal-worker ]] && extra=(--build-arg "CHROMIUM_SOURCE=$chromium_source")
    case $service in
        portal-sim) extra=(--build-arg SIMULATOR=portal) ;;
        whatsapp-sim) extra=(--build-arg SIMULATOR=whatsapp) ;;
        meta-sim) extra=(--build-arg SIMULATOR=meta_cloud) ;;
    esac
    log "building $image (base $base, engine $engine${extra_ca:+, CA secret $extra_ca})"
    started=$(date +%s.%N)
    "$engine" build "${no_cache[@]}" "${secret[@]}" "${extra[@]}" \
        -f "$(source_dir "$service")/Dockerfile" \
        --build-arg "BASE_IMAGE=$base" \
        --build-arg "VERSION=$version" \
        --build-arg "REVISION=$revision" \
        --build-arg "SOURCE_URL=$source_url" \
        "${tags[@]}" .
    seconds[$service]=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
done

echo
printf '%-36s %10s %10s\n' IMAGE SIZE BUILD
for service in "${services[@]}"; do
    version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$(source_dir "$service")/pyproject.toml" | head -1)
    image="$prefix-$service:${tag:-$version}"
    bytes=$("$engine" image inspect --format '{{.Size}}' "$image")
    printf '%-36s %7d MB %8.1f s\n' "$image" $((bytes / 1000000)) "${seconds[$service]}"
done
