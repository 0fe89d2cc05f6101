#!/usr/bin/env bash
# virtio-blk throughput beside host dd on the same file (issue 10's goal: >= 0.5x dd). The kit's
# virtio-blk guest writes then reads MiB in 64 KiB requests at CPL3 (blk.bench, depth 8) on our
# VMM; dd then writes and reads the same bytes of the same image with 64 KiB blocks. Both go
# through the host page cache (no O_DIRECT, no fsync), and the image is fully allocated first so
# neither side pays for block allocation.
#   bench/blk.sh [MiB] [VMM binary] [guests dir]       (256, out/cloud-hypervisor, out/guests)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-256}
ch=${2:-out/cloud-hypervisor}
guests=${3:-out/guests}
[ -x "$ch" ] && [ -f "$guests/virtio-blk" ] || { echo "bench/blk.sh: run ./build.sh first (needs $ch and $guests/virtio-blk)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
img=$dir/bench.img
# The guest starts at sector 1 (blk.start): one MiB more than it uses.
dd if=/dev/zero of="$img" bs=1M count=$((mib + 1)) status=none
out=$("$ch" --kernel "$guests/virtio-blk" --cmdline "kit.poweroff blk.bench=$mib" --memory size=128M \
    --disk "path=$img" --serial tty --console off)
echo "$out" | grep 'virtio-blk: bench' | sed 's/^virtio-blk: bench [^ ]* /guest /'
# dd over the same range: 512-byte sector 1 onwards, in 64 KiB blocks.
w=$(dd if=/dev/zero of="$img" bs=64K count=$((mib * 16)) seek=512 oflag=seek_bytes conv=notrunc 2>&1 | tail -1)
r=$(dd if="$img" of=/dev/null bs=64K count=$((mib * 16)) skip=512 iflag=skip_bytes 2>&1 | tail -1)
echo "dd write: $w"
echo "dd read:  $r"
guest_w=$(echo "$out" | sed -n '/bench .* write /s/.* \([0-9]*\) MiB\/s,.*/\1/p')
guest_r=$(echo "$out" | sed -n '/bench .* read /s/.* \([0-9]*\) MiB\/s,.*/\1/p')
dd_w=$(echo "$w" | awk '{print $(NF-1) * ($NF == "GB/s" ? 1000 : 1) * 1000000 / 1048576}')
dd_r=$(echo "$r" | awk '{print $(NF-1) * ($NF == "GB/s" ? 1000 : 1) * 1000000 / 1048576}')
awk -v gw="$guest_w" -v gr="$guest_r" -v dw="$dd_w" -v dr="$dd_r" \
    'BEGIN { printf "ratio to dd: write %.2fx (%d / %d MiB/s), read %.2fx (%d / %d MiB/s)\n", gw / dw, gw, dw, gr / dr, gr, dr }'
