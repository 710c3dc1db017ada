#!/bin/bash
# Installs the Debian tools the test suite uses as real peers (run as root, once per machine).
#   squashfs-tools                  mksquashfs / unsquashfs (image build, kernel extraction)
#   nfs-ganesha nfs-ganesha-vfs     a userspace NFS server (the test kernel has no nfsd)
#   libnfs-utils                    nfs-ls / nfs-cat as NFSv3 clients
#   fdisk e2fsprogs util-linux      sfdisk, mkfs.ext4 -d, losetup, blkid (disk image sources)
#   busybox-static                  tiny synthetic roots; busybox tftp/udhcpc as clients
#   isc-dhcp-client nftables        dhclient as a full-DHCP client; nft for the full-mode multi-NIC guard
#   atftp tftp-hpa curl             TFTP clients; tftpd-hpa as the benchmark peer
#   dnsmasq-base nginx-light        benchmark peers (proxyDHCP/TFTP, HTTP sendfile)
#   tshark tcpdump                  packet checks
#   iproute2 ... (harness list)     network namespaces, QEMU + OVMF + iPXE for real firmware boots
#   chromium                        headless dashboard test
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-test-deps: must run as root (apt-get)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
APT=(apt-get -q -y -o DPkg::Lock::Timeout=300)
"${APT[@]}" update
PKGS=(squashfs-tools nfs-ganesha nfs-ganesha-vfs libnfs-utils fdisk e2fsprogs util-linux busybox-static
      atftp tftp-hpa tftpd-hpa curl dnsmasq-base nginx-light tshark tcpdump iproute2 iputils-ping procps
      qemu-system-x86 seabios ipxe-qemu ovmf ipxe python3 python3-scapy cpio gzip xz-utils bc perl coreutils
      chromium isc-dhcp-client nftables systemd)
"${APT[@]}" install --no-install-recommends "${PKGS[@]}"
# tftpd-hpa and nginx install system services that would hold :69/:80; tests start their own copies.
for svc in tftpd-hpa nginx nfs-ganesha; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
pkill -x in.tftpd 2>/dev/null || true
echo "install-test-deps: ok"
