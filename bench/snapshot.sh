#!/usr/bin/env bash
# Snapshot and restore timings on this machine, through the REST API with curl (issue 11):
#   bench/snapshot.sh [DIR]    (DIR: where snapshots go, default a temp dir under /var/tmp)
# Rows: the ticks guest (32 and 512 MiB, nearly all zero pages) snapshot and restore; the memfill
# guest with 496 of 512 MiB written, snapshot MB/s beside `dd` of the same size to the same file
# system (conv=fdatasync, as the snapshot syncs its files); restore by copy, with prefault, and ondemand.
# Uses out/cloud-hypervisor and out/guests from ./build.sh, or CH= and GUESTS= when set.
set -euo pipefail
cd "$(dirname "$0")/.."
ch=${CH:-out/cloud-hypervisor}
guests=${GUESTS:-out/guests}
[ -x "$ch" ] && [ -f "$guests/memfill" ] || { echo "bench/snapshot.sh: run ./build.sh first (or set CH= and GUESTS=)" >&2; exit 1; }
work=$(mktemp -d "${1:-/var/tmp}/ch-snapshot-bench.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

api() { curl -sS --unix-socket "$1" -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT "http://localhost/api/v1/$2" ${3:+-H 'Content-Type: application/json' --data "$3"}; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
start() {
    "$ch" --api-socket "path=$work/$1.sock" "${@:2}" >"$work/$1.log" 2>&1 &
    for _ in $(seq 300); do [ -S "$work/$1.sock" ] && return; sleep 0.05; done
    echo "bench/snapshot.sh: $1 did not start" >&2; exit 1
}
wait_for() { for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.05; done; echo "no '$2' in $1" >&2; exit 1; }

row() { # name guest cmdline MiB wait-for
    local name=$1 guest=$2 cmdline=$3 mib=$4 ready=$5 snap="$work/$1"
    mkdir -p "$snap"
    start "$name-a" --kernel "$guests/$guest" --cmdline "$cmdline" --memory "size=${mib}M" --serial "file=$work/$name.serial" --console off
    wait_for "$work/$name.serial" "$ready"
    api "$work/$name-a.sock" vm.pause >/dev/null
    read -r code snapshot < <(api "$work/$name-a.sock" vm.snapshot "{\"destination_url\":\"file://$snap\"}")
    [ "$code" = 204 ] || { echo "$name: vm.snapshot answered $code" >&2; exit 1; }
    api "$work/$name-a.sock" vmm.shutdown >/dev/null
    wait
    local written; written=$(du -k "$snap/memory-ranges" | cut -f1)
    local copy populate ondemand
    for mode in '"prefault":false' '"prefault":true' '"memory_restore_mode":"OnDemand"'; do
        start "$name-b"
        read -r code restore < <(api "$work/$name-b.sock" vm.restore "{\"source_url\":\"file://$snap\",$mode}")
        [ "$code" = 204 ] || { echo "$name: vm.restore ($mode) answered $code" >&2; exit 1; }
        api "$work/$name-b.sock" vmm.shutdown >/dev/null
        wait
        case $mode in *false*) copy=$restore;; *true*) populate=$restore;; *) ondemand=$restore;; esac
    done
    printf '%-12s %4s MiB RAM %7s KiB written  snapshot %5s ms %5s MB/s  restore %5s ms, prefault %5s ms, ondemand %5s ms\n' \
        "$name" "$mib" "$written" "$(ms "$snapshot")" "$(awk -v m="$mib" -v s="$snapshot" 'BEGIN { printf "%.0f", m * 1.048576 / s }')" \
        "$(ms "$copy")" "$(ms "$populate")" "$(ms "$ondemand")"
    rm -rf "$snap"
}

echo "snapshot and restore, REST round trips timed by curl, files in $(df --output=target "$work" | tail -1) ($(df --output=fstype "$work" | tail -1))"
row ticks-32 ticks "" 32 "ticks: 2"
row ticks-512 ticks "" 512 "ticks: 2"
row memfill-512 memfill "fill.mib=496 fill.check=0" 512 "memfill: filled"
dd_line=$(dd if=/dev/zero of="$work/dd.img" bs=1M count=512 conv=fdatasync 2>&1 | tail -1)
dd_s=$(echo "$dd_line" | sed -E 's/.*, ([0-9.]+) s, .*/\1/')
printf '%-12s %4s MiB                             dd       %5s ms %5s MB/s\n' "dd" 512 "$(ms "$dd_s")" \
    "$(awk -v s="$dd_s" 'BEGIN { printf "%.0f", 512 * 1.048576 / s }')"
