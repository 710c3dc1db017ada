/**
 * Property tests of the DHCP codec: mutated and truncated packets only ever decode or
 * raise DhcpDecodeError (never another exception, never a hang); every packet that decodes
 * re-encodes to the same bytes; classify/typedOptions never throw on a decoded packet.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  CLIENT_KINDS,
  DhcpDecodeError,
  buildReply,
  classify,
  clientPacketBytes,
  decodeDhcp,
  encodeDhcp,
  encodePxeOptions,
  getOption,
  typedOptions,
  type DhcpOption,
} from '../protocols/dhcp/index.js';
import { readCapture } from '../protocols/pcap/index.js';

/** Seeds: simulated firmware packets, packets using overload and long options, and every DHCP payload in pcap-fixtures/. */
function corpus(): Uint8Array[] {
  const seeds: Uint8Array[] = CLIENT_KINDS.map((k) => clientPacketBytes(k, { bootItem: k === 'bios-pxe' ? 32768 : undefined }));
  const req = decodeDhcp(seeds[0]!);
  const many: DhcpOption[] = Array.from({ length: 8 }, (_, i) => ({ code: 200 + i, data: new Uint8Array(30).fill(i) }));
  seeds.push(encodeDhcp(buildReply(req, { messageType: 5, options: many }), { maxSize: 348 }));
  seeds.push(encodeDhcp(buildReply(req, { messageType: 2, options: [{ code: 43, data: new Uint8Array(600).fill(1) }, { code: 43, data: encodePxeOptions({ discoveryControl: 3 }) }] })));
  const dir = join(import.meta.dirname, '..', 'pcap-fixtures');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).filter((n) => /\.pcap(ng)?$/.test(n))) {
      try {
        for (const p of readCapture(readFileSync(join(dir, f))).packets) {
          if (p.protocol === 'udp' && [67, 68, 4011].includes(p.dstPort)) seeds.push(new Uint8Array(p.payload));
        }
      } catch {
        // a fixture being written by someone else: the simulated seeds are enough
      }
    }
  }
  return seeds;
}

type Mutation =
  | { t: 'set'; pos: number; v: number }
  | { t: 'truncate'; pos: number }
  | { t: 'insert'; pos: number; bytes: number[] }
  | { t: 'delete'; pos: number; n: number }
  | { t: 'optlen'; pos: number; v: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), pos: fc.nat(), v: fc.nat(255) }),
  fc.record({ t: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({ t: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.array(fc.nat(255), { maxLength: 8 }) }),
  fc.record({ t: fc.constant('delete' as const), pos: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  // Aim at the options area, where lengths live.
  fc.record({ t: fc.constant('optlen' as const), pos: fc.integer({ min: 236, max: 600 }), v: fc.constantFrom(0, 1, 2, 52, 255, 0xff, 3) }),
);

function mutate(seed: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Buffer.from(seed);
  for (const m of ms) {
    if (b.length === 0) break;
    const pos = m.pos % (b.length + 1);
    if (m.t === 'set' || m.t === 'optlen') {
      if (pos < b.length) b[pos] = m.v;
    } else if (m.t === 'truncate') b = b.subarray(0, pos);
    else if (m.t === 'insert') b = Buffer.concat([b.subarray(0, pos), Buffer.from(m.bytes), b.subarray(pos)]);
    else b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + m.n)]);
  }
  return new Uint8Array(b);
}

describe('DHCP codec properties', () => {
  const seeds = corpus();

  test('100 000 mutated/truncated packets: decoded (and re-encoded identically) or DhcpDecodeError', () => {
    const outcomes = { decoded: 0, errors: 0 };
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
        const bytes = mutate(seeds[i]!, ms);
        let p;
        try {
          p = decodeDhcp(bytes);
        } catch (e) {
          if (!(e instanceof DhcpDecodeError)) throw e;
          outcomes.errors++;
          return;
        }
        outcomes.decoded++;
        const again = encodeDhcp(p);
        if (Buffer.compare(Buffer.from(again), Buffer.from(bytes)) !== 0) throw new Error('re-encode differs');
        classify(p, { dstPort: 67 });
        typedOptions(p);
      }),
      { numRuns: 100_000 },
    );
    // Both outcomes must actually happen, or the mutations are not doing their job.
    expect(outcomes.decoded).toBeGreaterThan(10_000);
    expect(outcomes.errors).toBeGreaterThan(10_000);
  }, 60_000);

  test('random bytes of any length never escape as another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), fc.boolean(), (b, cookie) => {
        if (cookie && b.length >= 240) b.set([99, 130, 83, 99], 236);
        try {
          encodeDhcp(decodeDhcp(b));
        } catch (e) {
          if (!(e instanceof DhcpDecodeError)) throw e;
        }
      }),
      { numRuns: 20_000 },
    );
  });

  test('any option list encodes (canonical, with overload when asked) and decodes to the same values', () => {
    const req = decodeDhcp(seeds[0]!);
    const opt = fc.record({ code: fc.integer({ min: 1, max: 254 }).filter((c) => c !== 52 && c !== 53), data: fc.uint8Array({ maxLength: 600 }) });
    fc.assert(
      fc.property(fc.uniqueArray(opt, { selector: (o) => o.code, maxLength: 6 }), fc.boolean(), (options, small) => {
        const r = buildReply(req, { messageType: 2, options });
        let b: Uint8Array;
        try {
          b = encodeDhcp(r, small ? { maxSize: 576 } : {});
        } catch (e) {
          if (small) return; // too big for 576 even with overload: a clear DhcpEncodeError
          throw e;
        }
        const d = decodeDhcp(b);
        for (const o of options) expect(getOption(d, o.code)).toEqual(o.data);
        expect(Buffer.from(encodeDhcp(d)).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });
});
