#!/usr/bin/env bash
# Builds everything a user needs and puts it under out/:
#   out/cloud-hypervisor, out/ch-remote (and their libraries in out/lib), out/guests/*.
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
  [flock]=util-linux
)
missing=()
for cmd in "${!needs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
done
[ -e /usr/lib/x86_64-linux-gnu/libsystemd.so.0 ] || [ -e /lib/x86_64-linux-gnu/libsystemd.so.0 ] || missing+=(libsystemd0)
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

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
rm -rf out/lib out/cloud-hypervisor out/ch-remote
mkdir -p out/lib
# ReadyToRun: our assemblies are compiled ahead of time, so the VMM starts about a third sooner
# (bench/README.md). It needs the crossgen2 package from NuGet; without it, publish plain IL.
case "$(uname -m)" in
  x86_64) r2r=(-r linux-x64 --self-contained false -p:PublishReadyToRun=true) ;;
  aarch64) r2r=(-r linux-arm64 --self-contained false -p:PublishReadyToRun=true) ;;
  *) r2r=() ;;
esac
publish() { # project, extra arguments
  local project=$1; shift
  dotnet publish "src/$project/$project.csproj" -c Release -p:DBusApi=$dbus "$@" \
    -o out/lib --nologo -v quiet -clp:ErrorsOnly
}
for project in CloudHypervisor ChRemote; do
  if ! publish "$project" "${r2r[@]}"; then
    [ ${#r2r[@]} -gt 0 ] || exit 1
    echo "build.sh: the ReadyToRun publish failed (is the crossgen2 package reachable?); publishing without it" >&2
    r2r=()
    publish "$project"
  fi
done
ln -sf lib/cloud-hypervisor out/cloud-hypervisor
ln -sf lib/ch-remote out/ch-remote

if [ -x guests/build.sh ]; then
  guests/build.sh out/guests
fi

echo "build.sh: built out/cloud-hypervisor, out/ch-remote$( [ -d out/guests ] && echo ", out/guests/" ) (D-Bus API: $dbus)"
