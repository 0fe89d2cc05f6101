#!/usr/bin/env bash
# Publishes the two executables a user runs, cloud-hypervisor and ch-remote, into one directory:
#   scripts/publish.sh --dbus true|false --out DIR
#   scripts/publish.sh --dbus B --r2r --out DIR   ReadyToRun only (bench/run.sh --compare-r2r)
#   scripts/publish.sh --source-hash     prints the hash of the sources, as .stamp records it
# Native AOT first: one native file each, no dotnet host needed to run them. If the AOT publish
# fails (the NativeAOT runtime pack or ILCompiler unreachable, no linker), it says so in one line
# and publishes ReadyToRun instead (DIR/lib plus two symlinks; needs the .NET runtime to run).
# DIR/.stamp records what was built: "dbus=<bool> kind=aot|r2r|il source=<hash>", so test.sh can
# reuse a build of the same sources instead of publishing again. Used by build.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# The sources an executable is built from; a change to any of them makes a new stamp.
source_hash() {
  find src Directory.Build.props Directory.Packages.props -type f \
    \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' -o -name '*.xml' \) \
    -not -path '*/obj/*' -not -path '*/bin/*' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-16
}

dbus=true out= force_r2r=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dbus) dbus=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --r2r) force_r2r=true; shift ;; # ReadyToRun only: bench/run.sh --compare-r2r
    --source-hash) source_hash; exit 0 ;; # what .stamp's source= would say for these sources
    *) echo "publish.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "usage: scripts/publish.sh --dbus true|false --out DIR" >&2; exit 2; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) rid= ;;
esac
projects=(CloudHypervisor ChRemote)
executables=(cloud-hypervisor ch-remote)
hash=$(source_hash)
mkdir -p "$out"
rm -rf "$out/lib" "$out/.stamp" "$out/cloud-hypervisor" "$out/ch-remote"

publish() { # project, output directory, extra arguments
  local project=$1 dir=$2; shift 2
  dotnet publish "src/$project/$project.csproj" -c Release -p:DBusApi="$dbus" "$@" \
    -o "$dir" --nologo -v quiet -clp:ErrorsOnly
}

native() {
  [ -n "$rid" ] || return 1
  local staging i
  staging=$(mktemp -d)
  trap 'rm -rf "$staging"' RETURN
  for i in 0 1; do
    publish "${projects[$i]}" "$staging/${executables[$i]}" -r "$rid" -p:PublishAot=true || return 1
    cp "$staging/${executables[$i]}/${executables[$i]}" "$out/${executables[$i]}"
  done
}

if ! $force_r2r && native; then
  kind=aot
else
  rm -f "$out/cloud-hypervisor" "$out/ch-remote"
  $force_r2r || echo "publish.sh: the Native AOT publish failed (is the NativeAOT runtime pack reachable? see the errors above); building ReadyToRun executables instead" >&2
  # ReadyToRun: our assemblies compiled ahead of time, run by the shared .NET runtime. Without
  # the crossgen2 package, plain IL.
  kind=r2r
  r2r=()
  [ -n "$rid" ] && r2r=(-r "$rid" --self-contained false -p:PublishReadyToRun=true)
  for project in "${projects[@]}"; do
    if ! publish "$project" "$out/lib" "${r2r[@]}"; then
      [ ${#r2r[@]} -gt 0 ] || exit 1
      echo "publish.sh: the ReadyToRun publish failed too (is crossgen2 reachable?); publishing IL" >&2
      r2r=() kind=il
      publish "$project" "$out/lib"
    fi
  done
  ln -sf lib/cloud-hypervisor "$out/cloud-hypervisor"
  ln -sf lib/ch-remote "$out/ch-remote"
fi
echo "dbus=$dbus kind=$kind source=$hash" > "$out/.stamp"
