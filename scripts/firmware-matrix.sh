#!/bin/bash
# Boots every real firmware kind of ../shared/harness against `ltsp-ts serve` alone (the
# harness's dnsmasq is only the LAN router handing out addresses): BIOS e1000, BIOS virtio,
# OVMF UEFI PXE virtio -> snponly.efi, iPXE EFI ROM e1000, OVMF UEFI HTTP Boot, and a storm of
# N mixed clients. Needs root, /dev/net/tun and the harness packages (scripts/install-test-deps.sh).
# Usage: scripts/firmware-matrix.sh [--storm N] [other run-matrix.sh options]
set -euo pipefail
cd "$(dirname "$0")/.."
H=../shared/harness
[ -d "$H" ] || { echo "firmware-matrix: $H not found (the QEMU harness lives beside the checkout)" >&2; exit 1; }
npx tsc -p . >/dev/null
# The same LTSP tree as the CI boot test (test/firmware-tree.ts).
ROOT=${TMPDIR:-/tmp}/ltsp-ts-firmware
export HARNESS_ASSETS=${HARNESS_ASSETS:-${TMPDIR:-/tmp}/ltsp-harness-assets}
[ -f "$HARNESS_ASSETS/tftp/ltsp/x86_64/vmlinuz" ] || "$H/build-assets.sh"
rm -rf "$ROOT" && mkdir -p "$ROOT/tftp/ltsp" "$ROOT/base/images"
cp -r "$HARNESS_ASSETS"/tftp/ltsp/{undionly.kpxe,snponly.efi,ipxe.efi,x86_64} "$ROOT/tftp/ltsp/"
(cd / && cpio -o -H newc </dev/null 2>/dev/null) > "$ROOT/tftp/ltsp/ltsp.img"
: > "$ROOT/base/images/x86_64.img"
cat > "$ROOT/ltsp.conf" <<'CONF'
[server]
MENU_TIMEOUT=-1
KERNEL_PARAMETERS='console=ttyS0,115200 panic=-1 quiet harness.token=ltsp-ts-${platform}'
CONF
exec "$H/run-matrix.sh" --ipv6-ra "$@" --server-cmd \
  "node bin/ltsp-ts.js serve --config $ROOT/ltsp.conf --tftp-dir $ROOT/tftp --base-dir $ROOT/base --interface srv0 --http-port 8080"
