#!/usr/bin/env bash
# Measures the system calls the VMM makes, to review src/CloudHypervisor/Sandbox/SeccompAllowList.cs:
# runs the real-binary tests under `strace -f` (the whole run: the VMM processes are picked out by
# their execve), then lists every call made after the filter went on that the allow list lacks.
#   scripts/seccomp-measure.sh [TEST-PROJECT-DIR-OR-DLL] [FILTER]
# Run it on a build whose filter allows everything being traced (--seccomp log keeps a VMM alive
# too, but tests start the VMM with the default). CH_NATIVE_DIR/CH_NATIVE_KIND select AOT as for
# dotnet test. Takes several minutes on 2 cores: strace slows every system call.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=${1:-tests/CloudHypervisor.Tests} filter=${2:-FullyQualifiedName!~LinuxGuest}
out=$(mktemp -d)
nice strace -f -qq -o "$out/trace" dotnet test "$tests" -c Release --no-build --filter "$filter" >"$out/test.log" 2>&1 || true
scripts/seccomp-syscalls.py "$out/trace" | tee "$out/calls"
allowed=$(grep -o 'new("[a-z0-9_]*"' src/CloudHypervisor/Sandbox/SeccompAllowList.cs | cut -d'"' -f2 | sort)
missing=$(awk '$1 == "after" {print $3}' "$out/calls" | sort | comm -23 - <(echo "$allowed"))
echo "trace and results in $out"
if [ -n "$missing" ]; then echo "called after the filter but not allowed: $missing"; exit 1; fi
echo "every call made after the filter is allowed"
