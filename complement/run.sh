#!/usr/bin/env bash
# Runs Complement, the Matrix conformance suite, against this homeserver.
#
#   complement/run.sh                 the full run: csapi + the top-level tests package
#   complement/run.sh --baseline      only the tests in baseline.jsonl (what CI runs);
#                                     fails when one of them no longer passes
#   complement/run.sh --postgres      the image on PostgreSQL instead of SQLite
#   complement/run.sh -- -run TestLogin   extra `go test` arguments after --
#
# Steps: start dockerd when no engine answers; build a minimal Debian base image
# with debootstrap (no image registry is needed) and our image on top of it,
# both cached by a hash of their inputs; run `go test -json` on Complement (a Go
# module, pinned in go.mod); write results/ (see README.md).
#
# Environment:
#   COMPLEMENT_DIR          a local Complement checkout to use instead of the module
#   COMPLEMENT_PACKAGES     Complement packages to test (default: tests/csapi tests)
#   COMPLEMENT_GO_TIMEOUT   `go test -timeout` (default 60m, 20m with --baseline)
#   COMPLEMENT_GO_PARALLEL  packages tested at once (default 2)
#   COMPLEMENT_RESULTS_DIR  where results go (default: complement/results)
#   COMPLEMENT_KEEP_DOCKERD=1  leave a dockerd this script started running
#   COMPLEMENT_REBUILD=1    rebuild the images even when cached
#   REPO_DIR                the working tree to install (default: this script's repo)
# Any other COMPLEMENT_* variable is passed through to Complement.
#
# Exit codes: 0 ok; 1 a test of baseline.jsonl did not pass, or a step failed;
# 3 Complement could not be obtained (the Go module is unavailable and no
# COMPLEMENT_DIR is set): the image was built and smoke-tested, no test ran.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(cd "${REPO_DIR:-$HERE/..}" && pwd)
RESULTS="${COMPLEMENT_RESULTS_DIR:-$HERE/results}"
MODE=full
DATABASE=sqlite
GO_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline) MODE=baseline ;;
        --full) MODE=full ;;
        --postgres) DATABASE=postgres ;;
        --sqlite) DATABASE=sqlite ;;
        --) shift; GO_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

SUITE=bookworm
BASE_PACKAGES="python3,python3-venv,ca-certificates,openssl"
if [ "$DATABASE" = postgres ]; then
    BASE_PACKAGES="$BASE_PACKAGES,postgresql"
fi
export DOCKER_BUILDKIT=0  # the classic builder ships with the engine; BuildKit needs buildx
mkdir -p "$RESULTS"
log() { echo "== $*" >&2; }

# --- tools ------------------------------------------------------------------------

ensure_tools() {
    local missing=()
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            echo "missing: ${missing[*]} (install them, or run as root on Debian)" >&2
            exit 1
        fi
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! command -v go >/dev/null 2>&1; then
        if [ -x /usr/local/go/bin/go ]; then
            export PATH="/usr/local/go/bin:$PATH"
        else
            echo "go not found: Complement needs Go (see go.mod for the version) on PATH" >&2
            exit 1
        fi
    fi
}

ensure_dockerd() {
    if docker info >/dev/null 2>&1; then
        return
    fi
    log "starting dockerd (log: $RESULTS/dockerd.log)"
    setsid dockerd >"$RESULTS/dockerd.log" 2>&1 < /dev/null &
    STARTED_DOCKERD=$!
    # Stop the engine we started when we are done (images stay cached on disk).
    if [ "${COMPLEMENT_KEEP_DOCKERD:-0}" != 1 ]; then
        trap 'kill "$STARTED_DOCKERD" 2>/dev/null || true' EXIT
    fi
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    echo "dockerd did not come up; last lines of its log:" >&2
    tail -20 "$RESULTS/dockerd.log" >&2
    exit 1
}

# Complement's Docker client negotiates the API version with the engine (Debian's
# 20.10 speaks 1.41); DOCKER_API_VERSION, when set, pins it instead.

# --- images -----------------------------------------------------------------------

debian_mirror() {
    # The first Debian mirror in this machine's apt sources (deb822 or one-line form).
    local uri
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | head -1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
            | grep -v -- '-security' | head -1 || true)
    fi
    if [ -z "$uri" ]; then
        echo "no Debian mirror found in /etc/apt/sources.list*" >&2
        exit 1
    fi
    echo "$uri"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

build_base_image() {
    local key tag dir
    key=$(printf '%s\n' "$SUITE" "$BASE_PACKAGES" minbase | sha256sum | cut -c1-16)
    tag="homeserver-complement-base:$key"
    if image_exists "$tag" && [ "${COMPLEMENT_REBUILD:-0}" != 1 ]; then
        echo "$tag"
        return
    fi
    dir=$(mktemp -d)
    log "debootstrap $SUITE ($BASE_PACKAGES) -> $tag"
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$dir" \
        "$(debian_mirror)" >"$RESULTS/debootstrap.log" 2>&1; then
        tail -20 "$RESULTS/debootstrap.log" >&2
        rm -rf "$dir"
        exit 1
    fi
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | docker import - "$tag" >/dev/null
    rm -rf "$dir"
    echo "$tag"
}

# Files of the working tree that go into the wheel: tracked and untracked, not ignored.
project_files() {
    git -C "$REPO_DIR" ls-files -z -co --exclude-standard -- \
        homeserver appservices schema pyproject.toml setup.py MANIFEST.in README.md LICENSE \
        | xargs -0 -I{} sh -c 'test -f "$1" && printf "%s\0" "$1"' _ "{}"
}

build_image() {
    local base="$1" key tag ctx py
    key=$(
        cd "$REPO_DIR"
        {
            echo "$base $DATABASE"
            project_files | xargs -0 sha256sum
            sha256sum "$HERE/Dockerfile" "$HERE/entrypoint.sh"
        } | sha256sum | cut -c1-16
    )
    tag="homeserver-complement:$DATABASE-$key"
    if image_exists "$tag" && [ "${COMPLEMENT_REBUILD:-0}" != 1 ]; then
        echo "$tag"
        return
    fi
    ctx=$(mktemp -d)
    log "building the wheelhouse from $REPO_DIR"
    mkdir -p "$ctx/src" "$ctx/wheels"
    # Build from a copy so the shared working tree gets no build/ or egg-info.
    (cd "$REPO_DIR" && project_files | xargs -0 cp --parents -t "$ctx/src")
    py=${PYTHON:-python3}
    "$py" -m pip wheel -q --no-deps "$ctx/src" -w "$ctx/wheels" >"$RESULTS/wheel.log" 2>&1 \
        || { tail -20 "$RESULTS/wheel.log" >&2; exit 1; }
    # Dependencies as binary wheels for the image's Python (Debian bookworm: CPython
    # 3.11, glibc 2.36), whatever Python runs this script.
    "$py" -m pip download -q --only-binary=:all: -d "$ctx/wheels" \
        --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
        --platform manylinux_2_36_x86_64 --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
        "$ctx"/wheels/homeserver-*.whl >>"$RESULTS/wheel.log" 2>&1 \
        || { tail -20 "$RESULTS/wheel.log" >&2; exit 1; }
    rm -rf "$ctx/src"
    cp "$HERE/Dockerfile" "$HERE/entrypoint.sh" "$ctx/"
    log "docker build -> $tag"
    docker build -q --build-arg BASE_IMAGE="$base" --build-arg DATABASE="$DATABASE" \
        -t "$tag" "$ctx" >"$RESULTS/docker-build.log" 2>&1 \
        || { tail -30 "$RESULTS/docker-build.log" >&2; rm -rf "$ctx"; exit 1; }
    rm -rf "$ctx"
    # Keep one image per database: older trees' images are of no further use.
    docker images --format '{{.Repository}}:{{.Tag}}' homeserver-complement \
        | grep "^homeserver-complement:$DATABASE-" | grep -vxF "$tag" \
        | xargs -r docker rmi >/dev/null 2>&1 || true
    echo "$tag"
}

smoke_test() {
    # One container by hand, as Complement would start it, before spending minutes on Go.
    local image="$1" cid ok=0 ca
    ca=$(mktemp -d)
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=smoke CA" \
        -keyout "$ca/ca.key" -out "$ca/ca.crt" >/dev/null 2>&1
    cid=$(docker run -d -e SERVER_NAME=hs1 -v "$ca:/complement/ca:ro" \
        -p 127.0.0.1::8008 -p 127.0.0.1::8448 "$image")
    local http tls
    http=$(docker port "$cid" 8008/tcp | head -1)
    tls=$(docker port "$cid" 8448/tcp | head -1)
    for _ in $(seq 30); do
        if curl -fsS "http://$http/_matrix/client/versions" >/dev/null 2>&1 \
            && curl -fsS --cacert "$ca/ca.crt" --resolve "hs1:${tls##*:}:127.0.0.1" \
                "https://hs1:${tls##*:}/_matrix/key/v2/server" >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 1
    done
    if [ "$ok" != 1 ]; then
        echo "the image did not answer /versions on 8008 and the key endpoint on 8448:" >&2
        docker logs "$cid" 2>&1 | tail -30 >&2
    fi
    docker rm -f "$cid" >/dev/null
    rm -rf "$ca"
    [ "$ok" = 1 ]
}

# --- Complement ---------------------------------------------------------------------

# Go may add to go.sum while resolving; it does so in a scratch copy of this module.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"

# Prints the scratch module directory to run `go test` in, with Complement and its
# dependencies downloaded.
prepare_go() {
    local work
    work=$(mktemp -d)
    cp "$HERE/go.mod" "$HERE/go.sum" "$HERE/complement.go" "$work/"
    if [ -n "${COMPLEMENT_DIR:-}" ]; then
        (cd "$work" && go mod edit -replace "github.com/matrix-org/complement=$(cd "$COMPLEMENT_DIR" && pwd)")
    fi
    if ! (cd "$work" && go mod download github.com/matrix-org/complement) >"$RESULTS/go-mod.log" 2>&1 \
        || ! (cd "$work" && go list -test -deps $(packages) >/dev/null) >>"$RESULTS/go-mod.log" 2>&1; then
        echo "cannot obtain Complement through the Go module proxy:" >&2
        tail -5 "$RESULTS/go-mod.log" >&2
        echo "(set COMPLEMENT_DIR to a Complement checkout at the commit pinned in go.mod)" >&2
        rm -rf "$work"
        exit 3
    fi
    echo "$work"
}

packages() {
    local p
    for p in ${COMPLEMENT_PACKAGES:-tests/csapi tests}; do
        echo "github.com/matrix-org/complement/$p"
    done
}

main() {
    # One run at a time per machine: Complement removes the containers of its
    # package when a package ends, including those of another run of that package.
    exec 9>"${TMPDIR:-/tmp}/homeserver-complement.lock"
    if ! flock -n 9; then
        log "another Complement run is in progress; waiting for it"
        flock 9
    fi
    ensure_tools
    ensure_dockerd
    local work base image run_args=() status=0
    # The image and its smoke test come first: they are checked even when
    # Complement itself cannot be obtained.
    base=$(build_base_image)
    image=$(build_image "$base")
    log "image $image"
    smoke_test "$image" || exit 1
    log "smoke test passed: /versions on 8008, /_matrix/key/v2/server on 8448 (TLS)"
    work=$(prepare_go)

    if [ "$MODE" = baseline ]; then
        local pattern
        pattern=$(python3 "$HERE/results.py" run-pattern "$HERE/baseline.jsonl")
        if [ -z "$pattern" ]; then
            echo "baseline.jsonl is empty: nothing to run" >&2
            exit 0
        fi
        run_args=(-run "$pattern")
    fi
    export COMPLEMENT_BASE_IMAGE="$image"
    export COMPLEMENT_SPAWN_HS_TIMEOUT_SECS="${COMPLEMENT_SPAWN_HS_TIMEOUT_SECS:-30}"
    export COMPLEMENT_ENABLE_DIRTY_RUNS="${COMPLEMENT_ENABLE_DIRTY_RUNS:-1}"
    local timeout=${COMPLEMENT_GO_TIMEOUT:-60m}
    [ "$MODE" = baseline ] && timeout=${COMPLEMENT_GO_TIMEOUT:-20m}
    log "go test ($MODE, timeout $timeout): $(packages | tr '\n' ' ')"
    (
        cd "$work"
        # shellcheck disable=SC2046
        go test -json -count=1 -p "${COMPLEMENT_GO_PARALLEL:-2}" -timeout "$timeout" "${run_args[@]}" "${GO_ARGS[@]}" \
            $(packages)
    ) >"$RESULTS/go-test.json" 2>"$RESULTS/go-test.stderr" || true
    rm -rf "$work"

    python3 "$HERE/results.py" summarise "$RESULTS/go-test.json" \
        --results "$RESULTS/results.jsonl" --summary "$RESULTS/summary.txt" \
        --image "$image" --mode "$MODE" --database "$DATABASE" || status=1
    cat "$RESULTS/summary.txt"
    # A baseline run with the default selection runs every baseline test, so a
    # missing one (the run crashed or timed out) counts as a regression.
    local compare_args=()
    if [ "$MODE" = baseline ] && [ ${#GO_ARGS[@]} = 0 ] && [ -z "${COMPLEMENT_PACKAGES:-}" ]; then
        compare_args=(--require-all)
    fi
    python3 "$HERE/results.py" compare "${compare_args[@]}" "$HERE/baseline.jsonl" \
        "$RESULTS/results.jsonl" || status=1
    return $status
}

main
