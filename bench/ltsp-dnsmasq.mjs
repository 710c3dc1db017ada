/**
 * The PXE part of LTSP's dnsmasq configuration (`ltsp dnsmasq`, /etc/dnsmasq.d/ltsp-dnsmasq.conf):
 * client-arch and iPXE-feature tags, the proxy-mode pxe-service menu and the boot files. The
 * benchmarks that run dnsmasq as LTSP's peer append it to their own port/range/TFTP lines.
 */
export const LTSP_DNSMASQ_PXE = `dhcp-match=set:X86PC,option:client-arch,0
dhcp-match=set:X86-64_EFI,option:client-arch,7
dhcp-match=set:X86-64_EFI,option:client-arch,9
dhcp-match=set:ipxe-http,175,19
dhcp-match=set:ipxe-menu,175,39
dhcp-match=set:ipxe-pxe,175,33
dhcp-match=set:ipxe-bzimage,175,24
dhcp-match=set:ipxe-efi,175,36
tag-if=set:ipxe,tag:ipxe-http,tag:ipxe-menu,tag:ipxe-pxe,tag:ipxe-bzimage
tag-if=set:ipxe,tag:ipxe-http,tag:ipxe-menu,tag:ipxe-efi
pxe-service=tag:proxy,tag:!ipxe,X86PC,"undionly.kpxe",ltsp/undionly.kpxe
pxe-service=tag:proxy,tag:!ipxe,X86-64_EFI,"snponly.efi",ltsp/snponly.efi
pxe-service=tag:proxy,tag:ipxe,X86PC,"ltsp.ipxe",ltsp/ltsp.ipxe
pxe-service=tag:proxy,tag:ipxe,X86-64_EFI,"ltsp.ipxe",ltsp/ltsp.ipxe
dhcp-boot=tag:!ipxe,tag:X86PC,ltsp/undionly.kpxe
dhcp-boot=tag:!ipxe,tag:X86-64_EFI,ltsp/snponly.efi
dhcp-boot=tag:ipxe,ltsp/ltsp.ipxe
`;
