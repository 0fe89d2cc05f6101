#!/usr/bin/env bash
# Builds the bundled test guests into PVH ELF files: guests/build.sh <outdir>
# Needs only binutils (as, ld) and gcc. Each assembler guest is common.s (start-up, IDT, PIC,
# PIT, COM1 helpers) linked with its own <name>.s; each kit guest is common.s, the freestanding
# C kit in kit/ (PCI, virtio-pci, CPL3) and its scenario kit/<name>.c.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 <outdir>" >&2
    exit 2
fi

src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$1
guests=(banner echo ticks poweroff reset powerbutton smp nmi triplefault hotplug)
kit_guests=(pci-list pci-hotplug cpl3 virtio-blk virtio-rng virtio-console virtio-net virtio-vsock virtio-pmem virtio-balloon virtio-hostile memfill)
kit_lib=(lib pci virtio user)

for tool in as ld; do
    command -v "$tool" >/dev/null || { echo "guests/build.sh: '$tool' not found: install the Debian package binutils" >&2; exit 1; }
done
command -v gcc >/dev/null || { echo "guests/build.sh: 'gcc' not found: install the Debian package gcc" >&2; exit 1; }

# Plain integer code for the CPL0 emulator (NOTES.md "KVM here"): no SSE/x87, no red zone (interrupts
# use the same stack at CPL0), no stack protector (no %fs), no endbr64, absolute addresses at 1 MiB.
cflags=(-std=gnu11 -O2 -ffreestanding -nostdlib -nostdinc -fno-pic -fno-pie -mno-sse -mno-mmx -mno-red-zone
    -mgeneral-regs-only -mcmodel=small -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables
    -fno-unwind-tables -fno-common -Wall -Wextra -Werror)

mkdir -p "$out"
obj=$(mktemp -d)
trap 'rm -rf "$obj"' EXIT

as --64 -I "$src" -o "$obj/common.o" "$src/common.s"
for guest in "${guests[@]}"; do
    as --64 -I "$src" -o "$obj/$guest.o" "$src/$guest.s"
    ld -m elf_x86_64 -static -nostdlib --build-id=none -z noexecstack -z max-page-size=0x1000 --no-warn-rwx-segments \
        -T "$src/guest.ld" -o "$out/$guest" "$obj/common.o" "$obj/$guest.o"
done

as --64 -I "$src" -o "$obj/kit-entry.o" "$src/kit/entry.s"
kit_objs=("$obj/common.o" "$obj/kit-entry.o")
for part in "${kit_lib[@]}"; do
    gcc "${cflags[@]}" -c -o "$obj/kit-$part.o" "$src/kit/$part.c"
    kit_objs+=("$obj/kit-$part.o")
done
for guest in "${kit_guests[@]}"; do
    gcc "${cflags[@]}" -c -o "$obj/$guest.o" "$src/kit/$guest.c"
    ld -m elf_x86_64 -static -nostdlib --build-id=none -z noexecstack -z max-page-size=0x1000 --no-warn-rwx-segments \
        -T "$src/guest.ld" -o "$out/$guest" "${kit_objs[@]}" "$obj/$guest.o"
done
echo "guests: built ${guests[*]} ${kit_guests[*]} in $out"
