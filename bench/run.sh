#!/usr/bin/env bash
# Runs the benchmarks against the binaries ./build.sh put in out/. Ratios are to the floor
# (a bare Unix-socket round trip between two processes) measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x out/cloud-hypervisor ] || { echo "bench/run.sh: run ./build.sh first" >&2; exit 1; }
command -v dbus-daemon >/dev/null || { echo "bench/run.sh: dbus-daemon missing (Debian package dbus-daemon)" >&2; exit 1; }
# QEMU is the comparison for boot time; without it the bench prints "qemu: <why>" instead.
if ! command -v qemu-system-x86_64 >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y qemu-system-x86 >/dev/null || echo "bench/run.sh: could not install qemu-system-x86" >&2
fi
export CH_ARTIFACTS="$(pwd)/artifacts/bench"
dotnet build bench/Bench/Bench.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
exec "$CH_ARTIFACTS/bin/Bench/release/ch-bench" --binary out/cloud-hypervisor "$@"
