#!/bin/bash
# Boots every real firmware kind of ../shared/harness against `ltsp-ts serve` alone (the
# harness's dnsmasq is only the LAN router handing out addresses): BIOS e1000, BIOS virtio,
# OVMF UEFI PXE virtio -> snponly.efi, iPXE EFI ROM e1000, OVMF UEFI HTTP Boot, and a storm of
# N mixed clients. Needs root, /dev/net/tun and the harness packages (scripts/install-test-deps.sh).
# Usage: scripts/firmware-matrix.sh [--storm N] [other run-matrix.sh options]
#        scripts/firmware-matrix.sh --full-dhcp   # ltsp-ts as the ONLY DHCP server (harness --no-router):
#            BIOS and UEFI boot, then the booted initrd's own DHCP (udhcpc) and an HTTP GET must work
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
SERVE="node bin/ltsp-ts.js serve --tftp-dir $ROOT/tftp --base-dir $ROOT/base --interface srv0 --http-port 8080"
if [ "${1:-}" = --full-dhcp ]; then
  cat > "$ROOT/ltsp-full.conf" <<'CONF'
[server]
MENU_TIMEOUT=-1
KERNEL_PARAMETERS='console=ttyS0,115200 panic=-1 quiet harness.token=ltsp-ts-full-${platform} harness.net=1 harness.url=http://192.168.77.1:8080/ltsp/ltsp.ipxe'
CONF
  rc=0
  for fw in "bios e1000" "uefi virtio"; do
    set -- $fw
    rm -f "$ROOT/leases.journal"
    out=$("$H/boot-test.sh" --no-router --ipv6-ra --firmware "$1" --nic "$2" --label "full-$1" --expect HARNESS-NET-OK \
      --server-cmd "$SERVE --config $ROOT/ltsp-full.conf --dhcp-mode full --dhcp-range 192.168.77.100,192.168.77.199,1h --lease-file $ROOT/leases.journal" 2>&1) || rc=1
    printf '%-22s %s\n' "full-dhcp-$1" "$(grep -m1 'RESULT:' <<<"$out" || echo "RESULT: FAIL (no result line)")"
  done
  exit $rc
fi
exec "$H/run-matrix.sh" --ipv6-ra "$@" --server-cmd "$SERVE --config $ROOT/ltsp.conf"
