#!/usr/bin/env bash
# Installs what ./build.sh built into /usr/local and the systemd units into /etc/systemd/system.
#   sudo scripts/systemd/install.sh
#   sudo systemctl enable --now cloud-hypervisor@vm1.socket
#   curl --unix-socket /run/cloud-hypervisor/vm1.sock http://localhost/api/v1/vmm.ping
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x out/cloud-hypervisor ] || { echo "install.sh: run ./build.sh first" >&2; exit 1; }
prefix=${PREFIX:-/usr/local}
rm -rf "$prefix/lib/cloud-hypervisor"
mkdir -p "$prefix/lib/cloud-hypervisor" "$prefix/bin" /etc/cloud-hypervisor
cp -a out/lib/. "$prefix/lib/cloud-hypervisor/"
ln -sf "$prefix/lib/cloud-hypervisor/cloud-hypervisor" "$prefix/bin/cloud-hypervisor"
ln -sf "$prefix/lib/cloud-hypervisor/ch-remote" "$prefix/bin/ch-remote"
install -m 0644 scripts/systemd/cloud-hypervisor@.socket scripts/systemd/cloud-hypervisor@.service /etc/systemd/system/
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "installed $prefix/bin/cloud-hypervisor, $prefix/bin/ch-remote and the cloud-hypervisor@ units"
