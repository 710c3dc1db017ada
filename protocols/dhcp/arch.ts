/**
 * Client system architecture (option 93), RFC 4578 §2.1 and the IANA "Processor
 * Architecture Types" registry. Each code has a short name; config.dhcp.bootFiles is keyed
 * by these names (e.g. `efi-arm64 = ltsp/snponly-arm64.efi`).
 *
 * Code 9 is "EFI Byte Code" in the RFC, but an RFC 4578 erratum notes that x64 firmware
 * sent 9 for years; LTSP's dnsmasq config (and dnsmasq users generally) treat 9 as x64
 * UEFI, so it gets the name `efi-x64` too.
 */
export interface ArchInfo {
  code: number;
  /** Short stable name used in config and logs. */
  name: string;
  /** IANA description. */
  description: string;
  /** Firmware is UEFI (the PXE/HTTP stack of an EFI firmware). */
  uefi: boolean;
  /** HTTP Boot variant (RFC 7230 URLs in option 67, vendor class HTTPClient). */
  http: boolean;
}

const T: Array<[number, string, string, boolean, boolean]> = [
  [0, 'bios', 'x86 BIOS', false, false],
  [1, 'nec-pc98', 'NEC/PC98 (deprecated)', false, false],
  [2, 'itanium', 'Itanium', true, false],
  [3, 'dec-alpha', 'DEC Alpha (deprecated)', false, false],
  [4, 'arc-x86', 'Arc x86 (deprecated)', false, false],
  [5, 'intel-lean', 'Intel Lean Client (deprecated)', false, false],
  [6, 'efi-ia32', 'x86 UEFI', true, false],
  [7, 'efi-x64', 'x64 UEFI', true, false],
  [8, 'efi-xscale', 'EFI Xscale (deprecated)', true, false],
  [9, 'efi-x64', 'EBC (sent by x64 UEFI firmware; treated as x64 UEFI)', true, false],
  [10, 'efi-arm32', 'ARM 32-bit UEFI', true, false],
  [11, 'efi-arm64', 'ARM 64-bit UEFI', true, false],
  [12, 'ppc-openfirmware', 'PowerPC Open Firmware', false, false],
  [13, 'ppc-epapr', 'PowerPC ePAPR', false, false],
  [14, 'power-opal', 'POWER OPAL v3', false, false],
  [15, 'http-ia32', 'x86 UEFI boot from HTTP', true, true],
  [16, 'http-x64', 'x64 UEFI boot from HTTP', true, true],
  [17, 'http-ebc', 'EBC boot from HTTP', true, true],
  [18, 'http-arm32', 'ARM 32-bit UEFI boot from HTTP', true, true],
  [19, 'http-arm64', 'ARM 64-bit UEFI boot from HTTP', true, true],
  [20, 'http-bios', 'x86 BIOS boot from HTTP', false, true],
  [21, 'uboot-arm32', 'ARM 32-bit U-Boot', false, false],
  [22, 'uboot-arm64', 'ARM 64-bit U-Boot', false, false],
  [23, 'http-uboot-arm32', 'ARM 32-bit U-Boot boot from HTTP', false, true],
  [24, 'http-uboot-arm64', 'ARM 64-bit U-Boot boot from HTTP', false, true],
  [25, 'efi-riscv32', 'RISC-V 32-bit UEFI', true, false],
  [26, 'http-riscv32', 'RISC-V 32-bit UEFI boot from HTTP', true, true],
  [27, 'efi-riscv64', 'RISC-V 64-bit UEFI', true, false],
  [28, 'http-riscv64', 'RISC-V 64-bit UEFI boot from HTTP', true, true],
  [29, 'efi-riscv128', 'RISC-V 128-bit UEFI', true, false],
  [30, 'http-riscv128', 'RISC-V 128-bit UEFI boot from HTTP', true, true],
  [31, 's390-basic', 's390 Basic', false, false],
  [32, 's390-extended', 's390 Extended', false, false],
  [33, 'efi-mips32', 'MIPS 32-bit UEFI', true, false],
  [34, 'efi-mips64', 'MIPS 64-bit UEFI', true, false],
  [35, 'efi-sunway32', 'Sunway 32-bit UEFI', true, false],
  [36, 'efi-sunway64', 'Sunway 64-bit UEFI', true, false],
  [37, 'efi-loongarch32', 'LoongArch 32-bit UEFI', true, false],
  [38, 'http-loongarch32', 'LoongArch 32-bit UEFI boot from HTTP', true, true],
  [39, 'efi-loongarch64', 'LoongArch 64-bit UEFI', true, false],
  [40, 'http-loongarch64', 'LoongArch 64-bit UEFI boot from HTTP', true, true],
  [41, 'arm-rpiboot', 'ARM rpiboot', false, false],
];

const BY_CODE = new Map<number, ArchInfo>(
  T.map(([code, name, description, uefi, http]) => [code, { code, name, description, uefi, http }]),
);

/** Info for an option-93 code; unknown codes get the name `arch-<code>`. */
export function archInfo(code: number): ArchInfo {
  return BY_CODE.get(code) ?? { code, name: `arch-${code}`, description: 'unassigned', uefi: false, http: false };
}

export function archName(code: number): string {
  return archInfo(code).name;
}

/** Every known arch name (for config validation and docs). */
export const ARCH_NAMES: readonly string[] = [...new Set(T.map((t) => t[1]))];

/**
 * The PXE arch an HTTP-boot arch corresponds to (16 → 7, 19 → 11, ...), so an HTTP client
 * can fall back to the EFI boot file of the same CPU when no `http-*` file is configured.
 */
export const HTTP_TO_PXE_ARCH: Readonly<Record<number, number>> = { 15: 6, 16: 7, 17: 9, 18: 10, 19: 11, 26: 25, 28: 27, 30: 29, 38: 37, 40: 39 };
