#!/usr/bin/env bash
# Live migration timings on this machine, through the REST API with curl (issue 11):
#   bench/migrate.sh [RUNS]    (RUNS per row, default 3)
# Rows: an idle ticks guest of 512 MiB migrated between two VMMs over unix: (pre-copy) and with
# local=true (shared=on RAM handed over as a memfd). Total is vm.send-migration's answer to the
# destination's vm.receive-migration answer, as curl sees them; downtime is the sender's own
# measure, from the last pause to the destination's answer to Complete (which it sends after it
# resumed the VM), from the sender's log line.
# Uses out/cloud-hypervisor and out/guests from ./build.sh, or CH= and GUESTS= when set.
set -euo pipefail
cd "$(dirname "$0")/.."
ch=${CH:-out/cloud-hypervisor}
guests=${GUESTS:-out/guests}
runs=${1:-3}
[ -x "$ch" ] && [ -f "$guests/ticks" ] || { echo "bench/migrate.sh: run ./build.sh first (or set CH= and GUESTS=)" >&2; exit 1; }
work=$(mktemp -d /tmp/ch-migrate-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

api() { curl -sS --unix-socket "$1" -o /dev/null -w '%{http_code}\n' -X PUT "http://localhost/api/v1/$2" ${3:+-H 'Content-Type: application/json' --data "$3"}; }
now() { date +%s%N; }
start() {
    "$ch" -v --api-socket "path=$work/$1.sock" --event-monitor "path=$work/$1.events" "${@:2}" >"$work/$1.log" 2>&1 &
    for _ in $(seq 600); do [ -S "$work/$1.sock" ] && return; sleep 0.05; done
    echo "bench/migrate.sh: $1 did not start" >&2; exit 1
}
wait_for() { for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.05; done; echo "no '$2' in $1" >&2; exit 1; }

row() { # name memory-options send-options
    local name=$1 memory=$2 send=$3 i
    for i in $(seq "$runs"); do
        local a="$name-$i-a" b="$name-$i-b"
        start "$a" --kernel "$guests/ticks" --memory "$memory" --serial "file=$work/$a.serial" --console off
        start "$b"
        wait_for "$work/$a.serial" "ticks: 3"
        api "$work/$b.sock" vm.receive-migration "{\"receiver_url\":\"unix:$work/$name.mig\"}" >"$work/$b.code" &
        local receive=$!
        wait_for "$work/$b.events" migration-receive-ready
        local t0; t0=$(now)
        [ "$(api "$work/$a.sock" vm.send-migration "{\"destination_url\":\"unix:$work/$name.mig\"$send}")" = 204 ] || { echo "$name: send refused" >&2; exit 1; }
        wait "$receive"
        local t1; t1=$(now)
        [ "$(cat "$work/$b.code")" = 204 ] || { echo "$name: receive answered $(cat "$work/$b.code")" >&2; cat "$work/$b.log" >&2; exit 1; }
        wait_for "$work/$a.log" "VMM shutdown requested (migration)"
        local line; line=$(grep -o 'finished in [0-9]* ms: [0-9]* pre-copy iterations, [0-9]* bytes of RAM sent, downtime [0-9.]* ms' "$work/$a.log")
        printf '%-8s run %d  total %5d ms  (sender: %s)\n' "$name" "$i" $(( (t1 - t0) / 1000000 )) "$line"
        api "$work/$b.sock" vmm.shutdown >/dev/null || true
        wait 2>/dev/null || true
    done
}

row unix "size=512M" ""
row local "size=512M,shared=on" ',"local":true'
