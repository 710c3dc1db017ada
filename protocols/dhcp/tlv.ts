/**
 * Encapsulated sub-options (option 43 PXE, 82 relay agent, 175 iPXE): code, length, value,
 * with 0 as PAD and 255 as END as in the top-level options (RFC 2132 §8.4).
 */
export interface SubOption {
  code: number;
  data: Uint8Array;
}

/**
 * Parses sub-options; returns undefined when a length runs past the end (the raw option
 * value is still kept by the packet, so nothing is lost).
 */
export function parseSubOptions(b: Uint8Array, padEnd = true): SubOption[] | undefined {
  const out: SubOption[] = [];
  let i = 0;
  while (i < b.length) {
    const code = b[i]!;
    if (padEnd && code === 0) {
      i++;
      continue;
    }
    if (padEnd && code === 255) break;
    if (i + 1 >= b.length) return undefined;
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) return undefined;
    out.push({ code, data: b.slice(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  return out;
}

/** Sub-options → bytes (no END: encapsulated options do not need one). */
export function encodeSubOptions(subs: SubOption[]): Uint8Array {
  let n = 0;
  for (const s of subs) {
    if (s.data.length > 255) throw new RangeError(`sub-option ${s.code} is ${s.data.length} bytes (max 255)`);
    n += 2 + s.data.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const s of subs) {
    out[o] = s.code;
    out[o + 1] = s.data.length;
    out.set(s.data, o + 2);
    o += 2 + s.data.length;
  }
  return out;
}
