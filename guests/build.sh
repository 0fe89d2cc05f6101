#!/usr/bin/env bash
# Builds the bundled test guests into PVH ELF files: guests/build.sh <outdir>
# Needs only binutils (as, ld). Each guest is common.s (start-up, IDT, PIC, PIT, COM1 helpers)
# linked with its own <name>.s.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 <outdir>" >&2
    exit 2
fi

src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$1
guests=(banner echo ticks poweroff reset powerbutton smp nmi triplefault)

for tool in as ld; do
    command -v "$tool" >/dev/null || { echo "guests/build.sh: '$tool' not found: install the Debian package binutils" >&2; exit 1; }
done

mkdir -p "$out"
obj=$(mktemp -d)
trap 'rm -rf "$obj"' EXIT

as --64 -I "$src" -o "$obj/common.o" "$src/common.s"
for guest in "${guests[@]}"; do
    as --64 -I "$src" -o "$obj/$guest.o" "$src/$guest.s"
    ld -m elf_x86_64 -static -nostdlib --build-id=none -z noexecstack -z max-page-size=0x1000 --no-warn-rwx-segments \
        -T "$src/guest.ld" -o "$out/$guest" "$obj/common.o" "$obj/$guest.o"
done
echo "guests: built ${guests[*]} in $out"
