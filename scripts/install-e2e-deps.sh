#!/usr/bin/env bash
# Installs what `cargo xtask e2e` needs beyond the Rust toolchain: the
# Prometheus server and `promtool`, from the Debian package `prometheus`.
#
# Idempotent: does nothing when `promtool` and `prometheus` are already on the
# PATH. Needs root (CI runs as root) and `apt-get`; reads no stdin.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    echo "install-e2e-deps: promtool and prometheus already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-e2e-deps: apt-get not found; install Prometheus (promtool, prometheus) by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The package's maintainer scripts may try to start a service; nothing here
# relies on it (`cargo xtask e2e` runs its own server on a loopback port).
apt-get update </dev/null
apt-get install -y --no-install-recommends prometheus </dev/null
command -v promtool >/dev/null
command -v prometheus >/dev/null
echo "install-e2e-deps: installed $(prometheus --version 2>&1 | head -n 1)"
