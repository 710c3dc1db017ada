/**
 * Option 43 as the PXE specification (v2.1, §2.4 "DHCP options") defines it for clients
 * whose vendor class is PXEClient: sub-options 6 (discovery control), 8 (boot servers),
 * 9 (boot menu), 10 (menu prompt) and 71 (boot item). Other sub-options are kept raw.
 */
import { ipToBytes, ipToString } from './packet.js';
import { encodeSubOptions, parseSubOptions, type SubOption } from './tlv.js';

export const PXE_DISCOVERY_CONTROL = 6;
export const PXE_BOOT_SERVERS = 8;
export const PXE_BOOT_MENU = 9;
export const PXE_MENU_PROMPT = 10;
export const PXE_BOOT_ITEM = 71;

export interface PxeBootServer {
  /** boot server type (0 = PXE bootstrap server, 32768+ vendor types as dnsmasq uses) */
  type: number;
  ips: string[];
}

export interface PxeMenuItem {
  type: number;
  description: string;
}

export interface PxeOptions {
  /** 6: bit 0 no broadcast discovery, bit 1 no multicast, bit 2 only listed servers, bit 3 boot filename directly. */
  discoveryControl?: number;
  bootServers?: PxeBootServer[];
  menu?: PxeMenuItem[];
  prompt?: { timeout: number; text: string };
  bootItem?: { type: number; layer: number };
  /** Every sub-option as sent, in order (including the ones above). */
  raw: SubOption[];
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function parseBootServers(d: Uint8Array): PxeBootServer[] | undefined {
  const out: PxeBootServer[] = [];
  let i = 0;
  while (i < d.length) {
    if (i + 3 > d.length) return undefined;
    const type = u16(d, i);
    const count = d[i + 2]!;
    if (i + 3 + 4 * count > d.length) return undefined;
    const ips: string[] = [];
    for (let k = 0; k < count; k++) ips.push(ipToString(d, i + 3 + 4 * k));
    out.push({ type, ips });
    i += 3 + 4 * count;
  }
  return out;
}

function parseMenu(d: Uint8Array): PxeMenuItem[] | undefined {
  const out: PxeMenuItem[] = [];
  let i = 0;
  while (i < d.length) {
    if (i + 3 > d.length) return undefined;
    const len = d[i + 2]!;
    if (i + 3 + len > d.length) return undefined;
    out.push({ type: u16(d, i), description: Buffer.from(d.subarray(i + 3, i + 3 + len)).toString('latin1') });
    i += 3 + len;
  }
  return out;
}

/** Decodes option 43 as PXE sub-options; undefined when it is not a valid TLV list. */
export function parsePxeOptions(data: Uint8Array): PxeOptions | undefined {
  const raw = parseSubOptions(data);
  if (!raw) return undefined;
  const out: PxeOptions = { raw };
  for (const s of raw) {
    const d = s.data;
    switch (s.code) {
      case PXE_DISCOVERY_CONTROL:
        if (d.length === 1) out.discoveryControl = d[0]!;
        break;
      case PXE_BOOT_SERVERS: {
        const v = parseBootServers(d);
        if (v) out.bootServers = v;
        break;
      }
      case PXE_BOOT_MENU: {
        const v = parseMenu(d);
        if (v) out.menu = v;
        break;
      }
      case PXE_MENU_PROMPT:
        if (d.length >= 1) out.prompt = { timeout: d[0]!, text: Buffer.from(d.subarray(1)).toString('latin1') };
        break;
      case PXE_BOOT_ITEM:
        if (d.length === 4) out.bootItem = { type: u16(d, 0), layer: u16(d, 2) };
        break;
    }
  }
  return out;
}

/** What a server puts in option 43; encoded in the order given by `order` (dnsmasq: 6, 10, 8, 9). */
export interface PxeOptionsToSend {
  discoveryControl?: number;
  bootServers?: PxeBootServer[];
  menu?: PxeMenuItem[];
  prompt?: { timeout: number; text: string };
  bootItem?: { type: number; layer: number };
}

/** Writes a sub-option value with a small cursor (no intermediate number arrays: this runs per reply). */
class Bytes {
  private buf = new Uint8Array(64);
  private n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.n++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8).u8(v);
  }
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }
  text(s: string): this {
    return this.raw(Buffer.from(s, 'latin1'));
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

/**
 * Option 43 bytes, terminated with END as dnsmasq does (its option-43 encapsulation
 * always ends with 255).
 */
export function encodePxeOptions(
  o: PxeOptionsToSend,
  order: readonly number[] = [PXE_DISCOVERY_CONTROL, PXE_MENU_PROMPT, PXE_BOOT_SERVERS, PXE_BOOT_MENU, PXE_BOOT_ITEM],
  withEnd = true,
): Uint8Array {
  const subs: SubOption[] = [];
  for (const code of order) {
    const w = new Bytes();
    if (code === PXE_DISCOVERY_CONTROL && o.discoveryControl !== undefined) w.u8(o.discoveryControl);
    else if (code === PXE_MENU_PROMPT && o.prompt) w.u8(o.prompt.timeout).text(o.prompt.text);
    else if (code === PXE_BOOT_SERVERS && o.bootServers) for (const s of o.bootServers) {
      w.u16(s.type).u8(s.ips.length);
      for (const ip of s.ips) w.raw(ipToBytes(ip));
    }
    else if (code === PXE_BOOT_MENU && o.menu) for (const m of o.menu) {
      const t = Buffer.from(m.description, 'latin1');
      w.u16(m.type).u8(t.length).raw(t);
    }
    else if (code === PXE_BOOT_ITEM && o.bootItem) w.u16(o.bootItem.type).u16(o.bootItem.layer);
    else continue;
    subs.push({ code, data: w.done() });
  }
  const body = encodeSubOptions(subs);
  if (!withEnd) return body;
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  out[body.length] = 255;
  return out;
}
