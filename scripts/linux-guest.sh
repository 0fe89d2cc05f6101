#!/usr/bin/env bash
# Builds a Linux guest from Debian packages and prints where it is, as shell assignments:
#   eval "$(scripts/linux-guest.sh)"   # sets LINUX_BZIMAGE, LINUX_VMLINUX, LINUX_INITRAMFS, ...
#
# - the kernel: the linux-image-<version>-amd64 package that linux-image-amd64 depends on
#   (override with LINUX_IMAGE_PACKAGE=linux-image-6.1.0-NN-amd64); its bzImage as shipped, and
#   the ELF vmlinux extracted from it (the bzImage's compressed payload, located through the
#   setup header's payload_offset/payload_length), which boots through its PVH note and skips
#   the bzImage's own decompressor (too slow under an emulated CPL0, see NOTES.md);
# - an initramfs (gzip'd newc cpio) with busybox-static whose /init mounts proc/sys/dev, prints
#   the marker and the CPU count on the console, and powers off (ACPI S5).
#
# Everything is cached outside git in ${XDG_CACHE_HOME:-~/.cache}/cloud-hypervisor-guests/linux/,
# keyed by the package versions; a second run downloads nothing. Needs apt-get (Debian),
# dpkg-deb and python3; no root needed for an existing cache.
set -euo pipefail

marker="CLOUD-HYPERVISOR-LINUX-GUEST-OK"
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/cloud-hypervisor-guests/linux
log() { echo "linux-guest.sh: $*" >&2; }

for tool in apt-get apt-cache dpkg-deb python3; do
    command -v "$tool" >/dev/null || { log "'$tool' not found (needs a Debian system with python3)"; exit 1; }
done

kernel_pkg=${LINUX_IMAGE_PACKAGE:-}
if [[ -z "$kernel_pkg" ]]; then
    kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [[ -n "$kernel_pkg" ]] || { log "cannot resolve linux-image-amd64 (run 'apt-get update' first)"; exit 1; }
fi
kernel_ver=$(apt-cache policy "$kernel_pkg" | awk '/Candidate:/ { print $2 }')
busybox_ver=$(apt-cache policy busybox-static | awk '/Candidate:/ { print $2 }')
[[ -n "$kernel_ver" && "$kernel_ver" != "(none)" ]] || { log "no candidate for $kernel_pkg"; exit 1; }
[[ -n "$busybox_ver" && "$busybox_ver" != "(none)" ]] || { log "no candidate for busybox-static"; exit 1; }

dir="$cache_root/${kernel_pkg}_${kernel_ver//:/_}+busybox_${busybox_ver//:/_}"
if [[ ! -f "$dir/done" ]]; then
    log "building $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    # One folder per package version, so a failed build does not download again.
    fetch() {
        local into="$cache_root/debs/${1}_${2//:/_}"
        if ! ls "$into"/*.deb >/dev/null 2>&1; then
            mkdir -p "$into"
            # As root, apt-get download warns that it runs unsandboxed; harmless.
            (cd "$into" && apt-get download "$1=$2" >&2)
        fi
        ls "$into"/*.deb | head -n1
    }
    kernel_deb=$(fetch "$kernel_pkg" "$kernel_ver")
    busybox_deb=$(fetch busybox-static "$busybox_ver")
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    dpkg-deb -x "$kernel_deb" "$work/kernel"
    dpkg-deb -x "$busybox_deb" "$work/busybox"
    bzimage=$(ls "$work/kernel/boot/"vmlinuz-* | head -n1)
    release=${bzimage##*/vmlinuz-}
    cp "$bzimage" "$dir/bzImage"
    echo "$release" > "$dir/release"

    # The ELF vmlinux inside the bzImage (what the kernel's scripts/extract-vmlinux finds by
    # scanning for magics; the setup header says exactly where the payload is).
    python3 - "$dir/bzImage" "$dir/vmlinux" <<'PY'
import bz2, gzip, lzma, struct, subprocess, sys, zlib
data = open(sys.argv[1], "rb").read()
if data[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", data, 0x206)[0] < 0x208:
    sys.exit("not a bzImage with boot protocol >= 2.08")
setup_sects = data[0x1F1] or 4
payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
start = (setup_sects + 1) * 512 + payload_offset
payload = data[start:start + payload_length]
if payload.startswith(b"\xfd7zXZ\x00"):
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
elif payload.startswith(b"\x1f\x8b"):
    elf = zlib.decompressobj(wbits=31).decompress(payload)
elif payload.startswith(b"BZh"):
    elf = bz2.BZ2Decompressor().decompress(payload)
elif payload.startswith(b"\x5d\x00\x00"):
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(payload)
elif payload.startswith(b"\x28\xb5\x2f\xfd"):
    elf = subprocess.run(["zstd", "-dc"], input=payload, stdout=subprocess.PIPE, check=True).stdout
else:
    sys.exit("unknown kernel compression, magic %s" % payload[:6].hex())
if not elf.startswith(b"\x7fELF"):
    sys.exit("the decompressed payload is not an ELF vmlinux")
open(sys.argv[2], "wb").write(elf)
PY

    # The initramfs: busybox, its applet links, and /init.
    root="$work/root"
    mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc}
    cp "$work/busybox/bin/busybox" "$root/bin/busybox"
    for applet in sh mount echo cat grep poweroff reboot sleep uname; do
        ln -s busybox "$root/bin/$applet"
    done
    cat > "$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "$marker kernel \$(uname -r) cpus \$(grep -c ^processor /proc/cpuinfo)"
poweroff -f
INIT
    chmod 755 "$root/init"
    python3 - "$root" "$dir/initramfs.cpio.gz" <<'PY'
# newc cpio (the format the kernel's initramfs unpacker reads), gzip'd, parents before children.
import gzip, os, stat, sys
root, out = sys.argv[1], sys.argv[2]
def entry(name, mode, body, ino, nlink):
    fields = [ino, mode, 0, 0, nlink, 0, len(body), 0, 0, 0, 0, len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    head += b"\0" * (-len(head) % 4)
    return head + body + b"\0" * (-len(body) % 4)
paths = []
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    paths += [os.path.join(dirpath, n) for n in sorted(dirs + files)]
blob = b""
for ino, path in enumerate(sorted(paths), start=1):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        body = os.readlink(path).encode()
    elif stat.S_ISREG(st.st_mode):
        body = open(path, "rb").read()
    else:
        body = b""
    blob += entry(os.path.relpath(path, root), st.st_mode, body, ino, 2 if stat.S_ISDIR(st.st_mode) else 1)
blob += entry("TRAILER!!!", 0, b"", 0, 1)
with gzip.GzipFile(out, "wb", mtime=0) as f:
    f.write(blob)
PY
    touch "$dir/done"
fi

release=$(cat "$dir/release")
echo "LINUX_RELEASE=$release"
echo "LINUX_BZIMAGE=$dir/bzImage"
echo "LINUX_VMLINUX=$dir/vmlinux"
echo "LINUX_INITRAMFS=$dir/initramfs.cpio.gz"
echo "LINUX_CMDLINE='console=ttyS0 reboot=k panic=-1'"
echo "LINUX_MARKER=$marker"
