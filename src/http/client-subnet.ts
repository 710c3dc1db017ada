/**
 * IPv4 subnet allow-lists (config.http.imagesAllow): entries are `a.b.c.d/n` or a bare
 * address. Socket addresses may arrive IPv4-mapped (`::ffff:a.b.c.d`) when the server
 * listens on `::`; they are unwrapped before matching.
 */

export interface Subnet {
  text: string;
  net: number;
  mask: number;
}

/** 32-bit value of a dotted quad, or undefined when `s` is not one. */
export function ipv4ToInt(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; other addresses unchanged. */
export function unmapIPv4(addr: string): string {
  return addr.toLowerCase().startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** Parses the allow-list; bad entries are returned separately so the caller can log them. */
export function parseSubnets(list: string[]): { subnets: Subnet[]; bad: string[] } {
  const subnets: Subnet[] = [];
  const bad: string[] = [];
  for (const text of list) {
    const [addr, bitsText] = text.trim().split('/', 2) as [string, string | undefined];
    const ip = ipv4ToInt(addr);
    const bits = bitsText === undefined ? 32 : /^\d{1,2}$/.test(bitsText) ? Number(bitsText) : NaN;
    if (ip === undefined || !(bits >= 0 && bits <= 32)) {
      bad.push(text);
      continue;
    }
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    subnets.push({ text, net: (ip & mask) >>> 0, mask });
  }
  return { subnets, bad };
}

export function inSubnets(addr: string, subnets: Subnet[]): boolean {
  const ip = ipv4ToInt(unmapIPv4(addr));
  if (ip === undefined) return false;
  return subnets.some((s) => ((ip & s.mask) >>> 0) === s.net);
}
