#!/usr/bin/env bash
# Runs the benchmarks against the executables ./build.sh put in out/. Ratios are to the floor
# (a bare Unix-socket round trip between two processes, timed by a C client) measured in the
# same run.
#   bench/run.sh [--compare-r2r] [ch-bench arguments]
# --compare-r2r also publishes the ReadyToRun build of the same sources (what ./build.sh made
# before Native AOT) and measures every VMM row for both, side by side in this one run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x out/cloud-hypervisor ] || { echo "bench/run.sh: run ./build.sh first" >&2; exit 1; }
command -v dbus-daemon >/dev/null || { echo "bench/run.sh: dbus-daemon missing (Debian package dbus-daemon)" >&2; exit 1; }
# QEMU is the comparison for boot time; without it the bench prints "qemu: <why>" instead.
if ! command -v qemu-system-x86_64 >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y qemu-system-x86 >/dev/null || echo "bench/run.sh: could not install qemu-system-x86" >&2
fi
export CH_ARTIFACTS="$(pwd)/artifacts/bench"
mkdir -p "$CH_ARTIFACTS"
extra=()
if [ "${1:-}" = --compare-r2r ]; then
    shift
    dbus=$(sed -n 's/.*dbus=\([a-z]*\).*/\1/p' out/.stamp)
    scripts/publish.sh --dbus "${dbus:-true}" --r2r --out "$CH_ARTIFACTS/r2r"
    extra=(--baseline "$CH_ARTIFACTS/r2r/cloud-hypervisor")
fi
gcc -O2 -Wall -Wextra -pthread -o "$CH_ARTIFACTS/rtt" bench/native/rtt.c
dotnet publish bench/Bench/Bench.csproj -c Release -r linux-x64 -p:PublishAot=true -o "$CH_ARTIFACTS/ch-bench" --nologo -v quiet -clp:ErrorsOnly
# The smallest Kestrel app on the same route, Native AOT like the VMM: Kestrel's own share.
dotnet publish bench/KestrelMinimal/KestrelMinimal.csproj -c Release -r linux-x64 -p:PublishAot=true -o "$CH_ARTIFACTS/kestrel-minimal" --nologo -v quiet -clp:ErrorsOnly
exec "$CH_ARTIFACTS/ch-bench/ch-bench" --binary out/cloud-hypervisor --rtt "$CH_ARTIFACTS/rtt" --guests out/guests \
    --kestrel "$CH_ARTIFACTS/kestrel-minimal/kestrel-minimal" "${extra[@]}" "$@"
