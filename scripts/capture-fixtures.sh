#!/bin/bash
# Records pcap-fixtures/ from real firmware: boots each client kind once with the QEMU harness
# (../shared/harness/capture-all.sh, dnsmasq 2.90 baseline, --ipv6-ra) and keeps a small cut of
# each capture: every DHCP packet, TFTP requests/OACKs/errors plus the first two DATA/ACK
# blocks of each transfer, HTTP request/response headers (the first data segment of each
# direction of a TCP connection) and TCP SYNs. Needs root (the harness does); only one
# harness run per machine at a time.
#
# Usage: scripts/capture-fixtures.sh [--from DIR] [--out DIR] [KIND...]
#   --from DIR  trim the pcaps capture-all.sh already wrote to DIR instead of recording anew
#   --out DIR   where the cut fixtures go (default pcap-fixtures)
# KINDs are capture-all.sh's (default: all of them), plus uefi-virtio-httpboot-proxy-noanswer:
# OVMF HTTP Boot against the proxy-mode baseline, which never answers HTTPClient (the boot
# FAILs by design after 75 s; the capture shows the DISCOVERs only the router answers).
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS_DIR:-../shared/harness}
FROM=""; OUT=pcap-fixtures; KINDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) KINDS+=("$1") ;;
  esac
  shift
done
NOANSWER=uefi-virtio-httpboot-proxy-noanswer
if [ -z "$FROM" ]; then
  FROM=$(mktemp -d "${TMPDIR:-/tmp}/pc-capture.XXXXXX")
  ALL=(); WANT_NOANSWER=$([ ${#KINDS[@]} -eq 0 ] && echo 1 || echo 0)
  for k in "${KINDS[@]}"; do if [ "$k" = "$NOANSWER" ]; then WANT_NOANSWER=1; else ALL+=("$k"); fi; done
  if [ ${#ALL[@]} -gt 0 ] || [ ${#KINDS[@]} -eq 0 ]; then
    "$HARNESS/capture-all.sh" --ipv6-ra --out "$FROM" "${ALL[@]}" || { echo "capture-all.sh failed; see $FROM" >&2; exit 1; }
  fi
  if [ "$WANT_NOANSWER" = 1 ]; then
    "$HARNESS/boot-test.sh" --ipv6-ra --label "cap-$NOANSWER" --firmware uefi --nic virtio --uefi-boot http \
      --timeout 75 --pcap "$FROM/$NOANSWER.pcap" --server-cmd "$HARNESS/servers/dnsmasq-proxy.sh" || true
  fi
fi
[ ${#KINDS[@]} -gt 0 ] || KINDS=($(cd "$FROM" && ls *.pcap | sed 's/\.pcap$//'))

# tshark tracks TFTP transfers from their RRQ, so DATA/ACK on ephemeral ports are matched too.
FILTER='dhcp || tftp.opcode == 1 || tftp.opcode == 2 || tftp.opcode == 5 || tftp.opcode == 6
  || ((tftp.opcode == 3 || tftp.opcode == 4) && tftp.block <= 2)
  || http.request || http.response || tcp.flags.syn == 1 || (tcp.len > 0 && tcp.seq == 1)'
mkdir -p "$OUT"
for k in "${KINDS[@]}"; do
  in="$FROM/$k.pcap"
  [ -f "$in" ] || { echo "missing $in" >&2; exit 1; }
  out="$OUT/$k.pcapng"
  tshark -r "$in" -Y "$FILTER" -F pcapng -w "$out" 2>/dev/null
  printf '%-36s %8d bytes %5d frames (from %d)\n' "$out" "$(stat -c %s "$out")" \
    "$(tshark -r "$out" 2>/dev/null | wc -l)" "$(tshark -r "$in" 2>/dev/null | wc -l)"
done
