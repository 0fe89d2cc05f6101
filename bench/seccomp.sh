#!/usr/bin/env bash
# The seccomp filter's cost on the API path: REST vmm.ping round trips, timed by bench/native/rtt
# on one keep-alive connection, against two VMMs started alike but for --seccomp true|false,
# measured in alternating rounds so that load from other processes falls on both alike.
#   bench/seccomp.sh [BINARY] [ROUNDS] [REQUESTS]   defaults: out/cloud-hypervisor 5 5000
# Prints one line per round and mode ("p50_us p99_us requests_per_second count"), then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-out/cloud-hypervisor} rounds=${2:-5} requests=${3:-5000}
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
gcc -O2 -Wall -Wextra -pthread -o "$dir/rtt" bench/native/rtt.c
for mode in true false; do
  "$binary" --api-socket "path=$dir/$mode.sock" --seccomp "$mode" 2>"$dir/$mode.log" &
  pids+=($!)
done
for mode in true false; do
  for _ in $(seq 100); do [ -S "$dir/$mode.sock" ] && break; sleep 0.1; done
  "$dir/rtt" http "$dir/$mode.sock" GET /api/v1/vmm.ping 2000 >/dev/null # warm-up: JIT, tiering
done
for round in $(seq "$rounds"); do
  for mode in true false; do
    echo "round $round seccomp=$mode $("$dir/rtt" http "$dir/$mode.sock" GET /api/v1/vmm.ping "$requests")" | tee -a "$dir/results"
  done
done
for mode in true false; do
  for col in 4 5; do
    grep "seccomp=$mode " "$dir/results" | awk -v c="$col" '{print $c}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
  done | paste -sd' ' | awk -v m="$mode" '{printf "median seccomp=%s: p50 %s us, p99 %s us\n", m, $1, $2}'
done
