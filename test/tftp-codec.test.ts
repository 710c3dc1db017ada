import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  TftpDecodeError,
  decodeTftp,
  encodeTftp,
  negotiateOptions,
  toNetascii,
  NetasciiEncoder,
  ackBlock,
  type TftpPacket,
} from '../protocols/tftp/index.js';

const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

describe('tftp codec: decode', () => {
  it('decodes an OVMF-style RRQ with options, keeping order and spelling', () => {
    const p = decodeTftp(bytes('\x00\x01ltsp/snponly.efi\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00'));
    expect(p).toEqual({
      opcode: 'RRQ',
      filename: 'ltsp/snponly.efi',
      mode: 'octet',
      options: [
        { name: 'tsize', value: '0' },
        { name: 'blksize', value: '1468' },
        { name: 'windowsize', value: '4' },
      ],
    });
  });
  it('decodes WRQ, DATA, ACK, ERROR, OACK', () => {
    expect(decodeTftp(bytes('\x00\x02up.txt\x00netascii\x00'))).toEqual({ opcode: 'WRQ', filename: 'up.txt', mode: 'netascii', options: [] });
    const d = decodeTftp(bytes('\x00\x03\xff\xfeabc'));
    expect(d.opcode === 'DATA' && d.block === 0xfffe && Buffer.from(d.data).toString()).toBe('abc');
    expect(decodeTftp(bytes('\x00\x04\x00\x00'))).toEqual({ opcode: 'ACK', block: 0 });
    expect(decodeTftp(bytes('\x00\x05\x00\x08tsize refused\x00'))).toEqual({ opcode: 'ERROR', code: 8, message: 'tsize refused' });
    expect(decodeTftp(bytes('\x00\x06blksize\x001468\x00'))).toEqual({ opcode: 'OACK', options: [{ name: 'blksize', value: '1468' }] });
  });
  it('tolerates trailing NUL padding after a request and an ERROR without its NUL', () => {
    expect(decodeTftp(bytes('\x00\x01f\x00octet\x00\x00\x00\x00'))).toMatchObject({ filename: 'f', options: [] });
    expect(decodeTftp(bytes('\x00\x05\x00\x01gone'))).toEqual({ opcode: 'ERROR', code: 1, message: 'gone' });
  });
  it.each([
    ['', 'truncated'],
    ['\x00', 'truncated'],
    ['\x00\x07x\x00', 'unknown-opcode'],
    ['\x00\x00', 'unknown-opcode'],
    ['\x00\x01file', 'unterminated-string'],
    ['\x00\x01file\x00oct', 'unterminated-string'],
    ['\x00\x01file\x00octet\x00blksize\x00', 'option-without-value'],
    ['\x00\x01file\x00octet\x00blksize\x0014', 'unterminated-string'],
    ['\x00\x03\x00', 'truncated'],
    ['\x00\x04\x01', 'truncated'],
    ['\x00\x05\x00', 'truncated'],
  ])('rejects %j as %s', (raw, kind) => {
    let err: unknown;
    try {
      decodeTftp(bytes(raw));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TftpDecodeError);
    expect((err as TftpDecodeError).kind).toBe(kind);
  });
  it('reads ACK block numbers on the hot path', () => {
    expect(ackBlock(bytes('\x00\x04\x12\x34'))).toBe(0x1234);
    expect(ackBlock(bytes('\x00\x03\x12\x34'))).toBe(-1);
    expect(ackBlock(bytes('\x00\x04\x12'))).toBe(-1);
  });
});

describe('tftp codec: option negotiation', () => {
  const limits = { maxBlksize: 65464, maxWindowsize: 64, fileSize: 12345 };
  const o = (...kv: string[]) => kv.reduce<{ name: string; value: string }[]>((a, v, i) => (i % 2 ? a : [...a, { name: v, value: kv[i + 1]! }]), []);

  it('grants OVMF its options, echoing spelling and order', () => {
    const n = negotiateOptions(o('TSIZE', '0', 'blksize', '1468', 'windowsize', '4'), limits);
    expect(n).toMatchObject({ blksize: 1468, windowsize: 4, tsize: 12345 });
    expect(n.oack).toEqual(o('TSIZE', '12345', 'blksize', '1468', 'windowsize', '4'));
  });
  it('caps blksize by the limit and ignores out-of-range values', () => {
    expect(negotiateOptions(o('blksize', '65464'), { ...limits, maxBlksize: 1468 }).oack).toEqual(o('blksize', '1468'));
    for (const bad of ['7', '65465', '0', '-1', ' 512', '1e3', '', '99999999999']) {
      const n = negotiateOptions(o('blksize', bad), limits);
      expect(n.blksize).toBe(512);
      expect(n.oack).toEqual([]);
    }
  });
  it('timeout 1..255 echoed unchanged, else ignored', () => {
    expect(negotiateOptions(o('timeout', '1'), limits)).toMatchObject({ timeoutSec: 1, oack: o('timeout', '1') });
    expect(negotiateOptions(o('timeout', '255'), limits).oack).toEqual(o('timeout', '255'));
    expect(negotiateOptions(o('timeout', '0'), limits).oack).toEqual([]);
    expect(negotiateOptions(o('timeout', '256'), limits).oack).toEqual([]);
  });
  it('windowsize capped by config and by windowsize x blksize <= 64 KiB', () => {
    expect(negotiateOptions(o('windowsize', '65535'), limits).windowsize).toBe(64);
    expect(negotiateOptions(o('windowsize', '64', 'blksize', '1468'), limits).oack).toEqual(o('windowsize', '44', 'blksize', '1468'));
    expect(negotiateOptions(o('blksize', '65464', 'windowsize', '16'), limits).windowsize).toBe(1);
    expect(negotiateOptions(o('windowsize', '0'), limits).oack).toEqual([]);
    expect(negotiateOptions(o('windowsize', '65536'), limits).oack).toEqual([]);
  });
  it('unknown options and repeats are ignored; no accepted option means no OACK', () => {
    const n = negotiateOptions(o('multicast', '', 'rollover', '0', 'utimeout', '1000'), limits);
    expect(n.oack).toEqual([]);
    expect(n.ignored.map((i) => i.name)).toEqual(['multicast', 'rollover', 'utimeout']);
    expect(negotiateOptions(o('blksize', '1024', 'BLKSIZE', '2048'), limits).blksize).toBe(1024);
  });
  it('tsize is not answered when the size is unknown (netascii)', () => {
    expect(negotiateOptions(o('tsize', '0'), { ...limits, fileSize: undefined }).oack).toEqual([]);
  });
});

describe('tftp codec: netascii', () => {
  it('converts LF to CR LF and CR to CR NUL', () => {
    expect(Buffer.from(toNetascii(bytes('a\nb\rc\r\n'))).toString('latin1')).toBe('a\r\nb\r\x00c\r\x00\r\n');
  });
  it('carries a split pair across output buffers', () => {
    const enc = new NetasciiEncoder();
    const src = bytes('\n\n\r');
    const out: number[] = [];
    let s = 0;
    while (s < src.length || enc.hasPending) {
      const dst = new Uint8Array(1);
      const r = enc.encode(src, s, src.length, dst, 0, 1);
      s += r.read;
      out.push(...dst.subarray(0, r.written));
    }
    expect(Buffer.from(out).toString('latin1')).toBe('\r\n\r\n\r\x00');
  });
});

// ---- property tests: >= 100 000 mutated / truncated packets, two outcomes only ----

const str = fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 24 });
// Option names are never empty (an empty name followed by an empty value reads as NUL padding).
const option = fc.record({ name: str.filter((s) => s.length > 0), value: str });
const packetArb: fc.Arbitrary<TftpPacket> = fc.oneof(
  fc.record({ opcode: fc.constantFrom('RRQ' as const, 'WRQ' as const), filename: str, mode: str, options: fc.array(option, { maxLength: 5 }) }),
  fc.record({ opcode: fc.constant('DATA' as const), block: fc.integer({ min: 0, max: 65535 }), data: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ opcode: fc.constant('ACK' as const), block: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ opcode: fc.constant('ERROR' as const), code: fc.integer({ min: 0, max: 8 }), message: str }),
  fc.record({ opcode: fc.constant('OACK' as const), options: fc.array(option, { minLength: 1, maxLength: 5 }) }),
);

type Mutation = { kind: 'truncate'; at: number } | { kind: 'flip'; at: number; value: number } | { kind: 'insert'; at: number; value: number } | { kind: 'delete'; at: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.constantFrom(0, 0, 1, 255, 65) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);

function mutate(buf: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Array.from(buf);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.kind === 'truncate') b = b.slice(0, at);
    else if (m.kind === 'flip' && at < b.length) b[at] = m.value;
    else if (m.kind === 'insert') b.splice(at, 0, m.value);
    else if (m.kind === 'delete') b.splice(at, 1);
  }
  return Uint8Array.from(b);
}

function decodeOrTyped(buf: Uint8Array): 'decoded' | 'error' {
  try {
    decodeTftp(buf);
    return 'decoded';
  } catch (e) {
    if (e instanceof TftpDecodeError) return 'error';
    throw e;
  }
}

describe('tftp codec: properties', () => {
  it('decode(encode(p)) == p for valid packets', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const d = decodeTftp(encodeTftp(p));
        if (p.opcode === 'DATA') expect({ ...d, data: Array.from((d as typeof p).data) }).toEqual({ ...p, data: Array.from(p.data) });
        else expect(d).toEqual(p);
      }),
      { numRuns: 5_000 },
    );
  });
  it('120 000 mutated or truncated packets: a decoded packet or TftpDecodeError, nothing else', () => {
    let errors = 0;
    fc.assert(
      fc.property(packetArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (p, muts) => {
        if (decodeOrTyped(mutate(encodeTftp(p), muts)) === 'error') errors++;
      }),
      { numRuns: 100_000 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => void decodeOrTyped(b)), { numRuns: 20_000 });
    expect(errors).toBeGreaterThan(1000); // the mutations really do break packets
  });
  it('negotiation never grants values outside the RFC ranges or the limits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.constantFrom('blksize', 'BlkSize', 'timeout', 'tsize', 'windowsize', 'x'), value: fc.oneof(str, fc.nat().map(String)) }), { maxLength: 6 }),
        fc.integer({ min: 8, max: 65464 }),
        fc.integer({ min: 1, max: 65535 }),
        (opts, maxBlksize, maxWindowsize) => {
          const n = negotiateOptions(opts, { maxBlksize, maxWindowsize, fileSize: 1 });
          expect(n.blksize).toBeGreaterThanOrEqual(8);
          expect(n.blksize).toBeLessThanOrEqual(Math.max(512, maxBlksize));
          expect(n.windowsize).toBeGreaterThanOrEqual(1);
          expect(n.windowsize).toBeLessThanOrEqual(maxWindowsize);
          if (n.windowsize > 1) expect(n.windowsize * n.blksize).toBeLessThanOrEqual(65536);
          if (n.timeoutSec !== undefined) expect(n.timeoutSec).toBeGreaterThanOrEqual(1);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
