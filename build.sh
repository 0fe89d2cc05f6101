#!/usr/bin/env bash
# Builds everything a user needs and puts it under out/:
#   out/cloud-hypervisor, out/ch-remote (Native AOT: one native file each), out/guests/*.
# Without the NativeAOT pack it says so and builds ReadyToRun executables (out/lib, .NET runtime needed).
# Installs missing Debian packages with apt when run as root.
#   ./build.sh            D-Bus API compiled in (the default build)
#   ./build.sh --no-dbus  the minimal build, without the D-Bus frontend
set -euo pipefail
cd "$(dirname "$0")"

dbus=true
for arg in "$@"; do
  case "$arg" in
    --no-dbus) dbus=false ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# command -> Debian package that provides it. Every tool the build, the tests and the README use.
declare -A needs=(
  [curl]=curl [busctl]=systemd [gdbus]=libglib2.0-bin [dbus-daemon]=dbus-daemon
  [dbus-send]=dbus-bin [as]=binutils [ld]=binutils [gcc]=gcc [make]=make [jq]=jq
  [python3]=python3 [iasl]=acpica-tools [systemd-analyze]=systemd [setpriv]=util-linux
  [flock]=util-linux [ip]=iproute2 [ping]=iputils-ping
  # The guest kit is checked against a real virtio implementation: QEMU's, under TCG (Vmm.Tests
  # KitOnQemuTests); bench/run.sh compares boot times with it.
  [qemu-system-x86_64]=qemu-system-x86
  # vm.coredump's test opens the core against a bundled guest's ELF with Debian's gdb.
  [gdb]=gdb
)
missing=()
for cmd in "${!needs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
done
# The Native AOT link (gcc) needs the C library's start files, which gcc alone does not pull in.
command -v gcc >/dev/null && [ "$(gcc -print-file-name=crt1.o)" = crt1.o ] && missing+=(libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "build.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "build.sh: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
fi
command -v dotnet >/dev/null || { echo "build.sh: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }

# Native AOT executables (scripts/publish.sh), or ReadyToRun ones when AOT cannot be built here.
scripts/publish.sh --dbus "$dbus" --out out

if [ -x guests/build.sh ]; then
  guests/build.sh out/guests
fi

kind=$(sed -n 's/.*kind=\([a-z0-9]*\).*/\1/p' out/.stamp)
echo "build.sh: built out/cloud-hypervisor, out/ch-remote ($kind)$( [ -d out/guests ] && echo ", out/guests/" ) (D-Bus API: $dbus)"
