#!/usr/bin/env bash
# Installs what `cargo xtask e2e` needs beyond the Rust toolchain:
#
# - `prometheus`: the Prometheus server and `promtool`, from the Debian
#   package `prometheus`;
# - `python`: a virtual environment at `.venv-e2e` in the repository with
#   the PyPI packages `thriftpy2`, which
#   `crates/agent-trace-export/tests/jaeger/decode.py` uses to decode the
#   Jaeger agent exporter's UDP packets with the official Jaeger IDL, and
#   `prometheus-client`, whose OpenMetrics parser `cargo xtask e2e` runs
#   over our OpenMetrics exposition (exemplars included);
# - `chromium`: headless Chromium and its WebDriver server, from the Debian
#   packages `chromium` and `chromium-driver` (`/usr/bin/chromium`,
#   `/usr/bin/chromedriver`), which the `agent-trace report` end-to-end test
#   (`crates/agent-trace-cli/tests/report_renders_in_chromium.rs`) drives;
# - `valgrind`: callgrind, from the Debian package `valgrind`, which
#   `cargo xtask perfgate` (the instruction-count gate, not part of `e2e`)
#   runs the workloads of `perf/` under.
#
# Usage: scripts/install-e2e-deps.sh [prometheus] [python] [chromium] [valgrind]   (default: all)
#
# Idempotent: each part does nothing when what it installs is already there.
# The Debian part needs root (CI runs as root) and `apt-get`; reads no stdin.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Pinned so that every machine decodes with the same library.
thriftpy2_requirement="thriftpy2==0.7.1"
prometheus_client_requirement="prometheus-client==0.26.0"

apt_updated=false
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-e2e-deps: apt-get not found; install $* by hand" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ "$apt_updated" = false ]; then
        apt-get update </dev/null
        apt_updated=true
    fi
    apt-get install -y --no-install-recommends "$@" </dev/null
}

install_prometheus() {
    if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
        echo "install-e2e-deps: promtool and prometheus already installed"
        return 0
    fi
    # The package's maintainer scripts may try to start a service; nothing here
    # relies on it (`cargo xtask e2e` runs its own server on a loopback port).
    apt_install prometheus
    command -v promtool >/dev/null
    command -v prometheus >/dev/null
    echo "install-e2e-deps: installed $(prometheus --version 2>&1 | head -n 1)"
}

install_python() {
    local venv="$repo_root/.venv-e2e"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import thriftpy2, prometheus_client' >/dev/null 2>&1; then
        echo "install-e2e-deps: thriftpy2 and prometheus-client already installed in $venv"
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install python3 python3-venv
    fi
    # Debian's python3 ships `venv` (and `ensurepip`) in a separate package.
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        apt_install python3-venv
        python3 -m venv "$venv"
    fi
    # Keeps the environment out of `git status` without touching .gitignore.
    printf '*\n' >"$venv/.gitignore"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$thriftpy2_requirement" "$prometheus_client_requirement" </dev/null
    "$venv/bin/python" -c 'import thriftpy2, prometheus_client'
    echo "install-e2e-deps: installed $thriftpy2_requirement $prometheus_client_requirement in $venv"
}

install_chromium() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        echo "install-e2e-deps: chromium and chromedriver already installed"
        return 0
    fi
    apt_install chromium chromium-driver
    command -v chromium >/dev/null
    command -v chromedriver >/dev/null
    # The launcher script may print a shell warning on stderr before the version.
    echo "install-e2e-deps: installed $(chromium --version 2>/dev/null | tail -n 1)"
}

install_valgrind() {
    if command -v valgrind >/dev/null 2>&1; then
        echo "install-e2e-deps: valgrind already installed"
        return 0
    fi
    apt_install valgrind
    command -v valgrind >/dev/null
    echo "install-e2e-deps: installed $(valgrind --version)"
}

parts=("$@")
if [ ${#parts[@]} -eq 0 ]; then
    parts=(prometheus python chromium valgrind)
fi
for part in "${parts[@]}"; do
    case "$part" in
        prometheus) install_prometheus ;;
        python) install_python ;;
        chromium) install_chromium ;;
        valgrind) install_valgrind ;;
        *)
            echo "install-e2e-deps: unknown part '$part' (expected: prometheus, python, chromium, valgrind)" >&2
            exit 2
            ;;
    esac
done
