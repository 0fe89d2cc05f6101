#!/usr/bin/env bash
# Runs every test of both builds (with and without the D-Bus API), then the tests that differ in a
# third, GUEST_DEBUG build (vm.coredump), and ends with one line:
#   N passed, N failed
#   ./test.sh           both variants
#   ./test.sh --linux   also the opt-in, bounded Linux boot test (slow on software KVM)
set -uo pipefail
cd "$(dirname "$0")"
root=$(pwd)

for arg in "$@"; do
  case "$arg" in
    --linux) export CH_TEST_LINUX=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
passed=0 failed=0 skipped=0

# The bundled guests, for the KVM tests (./build.sh normally made them already).
if [ -x guests/build.sh ] && [ ! -d out/guests ]; then
  guests/build.sh out/guests >/dev/null || { echo "test.sh: guests/build.sh failed" >&2; failed=$((failed + 1)); }
fi
export CH_GUESTS_DIR="$root/out/guests"

run_variant() { # name dbus [guest_debug filter]
  local name=$1 dbus=$2 guest_debug=${3:-false} log
  export CH_ARTIFACTS="$root/artifacts/test-$name"
  log="$CH_ARTIFACTS/test.log"
  mkdir -p "$CH_ARTIFACTS"
  echo "== $name build (D-Bus API: $dbus, guest_debug: $guest_debug)"
  # The test projects reference the executables, so each variant's tests run its own binaries.
  if ! dotnet build CloudHypervisor.sln -c Release -p:DBusApi=$dbus -p:GuestDebug=$guest_debug --nologo -v quiet -clp:ErrorsOnly; then
    echo "test.sh: $name build failed" >&2
    failed=$((failed + 1))
    return
  fi
  local filter="Category!=Linux" hang=4m
  if [ "$guest_debug" = true ]; then
    # GUEST_DEBUG only adds vm.coredump: its tests and those with a GUEST_DEBUG branch run, on
    # the JIT executables next to the tests (no third AOT publish; the other two prove AOT).
    unset CH_NATIVE_DIR CH_NATIVE_KIND
    filter=$4
    echo "== $name tests (executables: the JIT build next to the tests)"
  else
    # The tests run the executables users run: the Native AOT ones (scripts/publish.sh). The
    # default variant reuses out/ when ./build.sh built it from these sources; others publish here.
    local native="$CH_ARTIFACTS/native" hash
    hash=$(scripts/publish.sh --source-hash)
    if grep -qx "dbus=$dbus kind=[a-z0-9]* source=$hash" out/.stamp 2>/dev/null; then
      native="$root/out"
    elif ! scripts/publish.sh --dbus "$dbus" --out "$native"; then
      echo "test.sh: $name publish failed" >&2
      failed=$((failed + 1))
      return
    fi
    export CH_NATIVE_DIR="$native" CH_NATIVE_KIND
    CH_NATIVE_KIND=$(sed -n 's/.*kind=\([a-z0-9]*\).*/\1/p' "$native/.stamp")
    echo "== $name tests (executables: $native, $CH_NATIVE_KIND)"
    # The Linux boot test is opt-in (minutes on a software KVM): ./test.sh --linux runs it, once.
    if [ -n "${CH_TEST_LINUX:-}" ] && [ "$name" = dbus ]; then filter="" hang=12m; fi
  fi
  dotnet test CloudHypervisor.sln -c Release -p:DBusApi=$dbus -p:GuestDebug=$guest_debug --no-build --nologo \
    ${filter:+--filter "$filter"} --blame-hang-timeout $hang 2>&1 | tee "$log" | grep -E '^\s*(Failed|Passed|Skipped)!|^\s+Failed [A-Za-z]|error' || true
  local code=${PIPESTATUS[0]}
  local p f s
  p=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  f=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  s=$(grep -oE 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  if [ "$code" != 0 ] && [ "$f" = 0 ]; then
    echo "test.sh: $name test run aborted (exit $code), see $log" >&2
    f=1
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run_variant dbus true
run_variant minimal false
run_variant guestdebug true true \
  'FullyQualifiedName~Coredump|FullyQualifiedName~ActionMatrix|FullyQualifiedName~RoundTrip|FullyQualifiedName~VmConfigDefaults|FullyQualifiedName~ServiceAndRemoteOptions|FullyQualifiedName~ApiCatalog|FullyQualifiedName~OpenApiDocument|FullyQualifiedName~EventCatalog'

if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
