#!/usr/bin/env bash
# Builds a small Linux kernel for the virtio devices test from Debian's linux-source-6.1 package
# and prints where it is, as a shell assignment:
#   eval "$(scripts/linux-kernel.sh)"   # sets LINUX_VIRTIO_VMLINUX (an ELF vmlinux with a PVH note)
#
# tinyconfig plus guests/linux-virtio.config: PVH, ACPI, PCI with MSI and ACPI PCI hot-plug, the
# virtio drivers (pci, blk, net, console, rng, balloon, vsock) built in, ext4, the 8250 console,
# printk timestamps; no modules. One local patch: the alternatives int3 self-test is dropped,
# because KVM's instruction emulator here cannot raise #BP (NOTES.md "Host facilities"); on
# hardware KVM the kernel does not need it.
#
# About 30 minutes on 2 cores, once: the result is cached outside git in
# ${XDG_CACHE_HOME:-~/.cache}/cloud-hypervisor-guests/linux-virtio/, keyed by the source package
# version and the config fragment. Installs the build tools with apt-get when run as root.
set -euo pipefail

src_dir=$(cd "$(dirname "$0")/.." && pwd)
fragment="$src_dir/guests/linux-virtio.config"
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/cloud-hypervisor-guests/linux-virtio
log() { echo "linux-kernel.sh: $*" >&2; }

needs=(linux-source-6.1 bc bison flex libelf-dev make gcc xz-utils)
missing=()
for pkg in "${needs[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        log "missing packages: ${missing[*]} (run as root, or install them)"
        exit 1
    fi
fi

version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$(cat "$fragment" "$0" | sha1sum | cut -c1-12)
dir="$cache_root/${version//:/_}-$key"
if [[ ! -f "$dir/done" ]]; then
    tarball=$(ls /usr/src/linux-source-6.1.tar.* | head -n1)
    log "building $dir from $tarball (about 30 minutes on 2 cores)"
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -xf "$tarball" -C "$dir"
    tree="$dir/linux-source-6.1"
    # The int3 self-test executes int3 at CPL0, which the emulator cannot raise.
    python3 - "$tree/arch/x86/kernel/alternative.c" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
call = "\tint3_selftest();\n"
if call not in s:
    sys.exit("alternative.c: int3_selftest() call not found")
open(p, "w").write(s.replace(call, "", 1))
PY
    make -C "$tree" -s tinyconfig >&2
    "$tree/scripts/kconfig/merge_config.sh" -m -O "$tree" "$tree/.config" "$fragment" >&2
    make -C "$tree" -s olddefconfig >&2
    # Every option of the fragment must have survived olddefconfig (a missing dependency drops one).
    while IFS= read -r line; do
        [[ "$line" =~ ^CONFIG_ ]] || continue
        if [[ "$line" == *"=n" ]]; then
            ! grep -qx "${line%=n}=y" "$tree/.config" || { log "config: ${line%=n} is still on"; exit 1; }
        elif ! grep -qx "$line" "$tree/.config"; then
            log "config: $line did not survive olddefconfig (a dependency is missing)"
            exit 1
        fi
    done < "$fragment"
    make -C "$tree" -s -j"$(nproc)" vmlinux >&2
    cp "$tree/vmlinux" "$dir/vmlinux"
    cp "$tree/.config" "$dir/config"
    rm -rf "$tree"
    touch "$dir/done"
fi
echo "LINUX_VIRTIO_VMLINUX=$dir/vmlinux"
