/**
 * TFTP server: interop with real Debian clients (curl, atftp, tftp-hpa, busybox) and the
 * protocol behaviour of issue 4 (options, OVMF's probe, no Sorcerer's Apprentice, rollover,
 * read-only, replaced files, concurrency cap, netascii).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, readdirSync, existsSync, renameSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTftp } from '../protocols/tftp/index.js';
import { RawClient, opt, rawGet, run, sha256, sha256File, startTestServer, waitFor, type TestServer } from './tftp-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ltsp-tftp-'));
const root = join(dir, 'root');
const out = join(dir, 'out');
const files: Record<string, Buffer> = {
  'big.bin': randomBytes(3 * 1024 * 1024 + 77),
  'exact.bin': randomBytes(1468 * 40), // multiple of blksize: ends with an empty DATA
  'empty.bin': Buffer.alloc(0),
  'ltsp/snponly.efi': randomBytes(200_000),
  'text.txt': Buffer.from('line one\nline two\r\nbare\rcr\n'.repeat(100)),
};
let t: TestServer;

beforeAll(async () => {
  mkdirSync(join(root, 'ltsp'), { recursive: true });
  mkdirSync(out);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(root, name), data);
  t = await startTestServer(root, { retransmitMs: 300, retries: 3 });
});
afterAll(async () => {
  await t?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const sameAs = (local: string, name: string) => expect(sha256File(local)).toBe(sha256(files[name]!));
let n = 0;
const outFile = () => join(out, `dl${n++}`);

describe('interop with real clients', () => {
  it.each([512, 1468, 8192, 65464])('curl --tftp-blksize %i', async (blksize) => {
    // (not empty.bin: curl 7.88 fails on 0-byte TFTP files with every server, tftpd-hpa too)
    for (const name of ['big.bin', 'exact.bin']) {
      const o = outFile();
      const r = await run('curl', ['-sS', '--tftp-blksize', String(blksize), '-o', o, `tftp://127.0.0.1:${t.port}/${name}`]);
      expect(r.stderr).toBe('');
      sameAs(o, name);
    }
    expect(t.lines.some((l) => l.file === 'big.bin' && l.blksize === blksize && l.outcome === 'ok')).toBe(true);
  });
  it('curl without options (plain RFC 1350, 512-byte blocks)', async () => {
    const o = outFile();
    await run('curl', ['-sS', '--tftp-no-options', '-o', o, `tftp://127.0.0.1:${t.port}/ltsp/snponly.efi`]);
    sameAs(o, 'ltsp/snponly.efi');
  });
  it.each([
    [['--option', 'windowsize 16'], 16],
    [['--option', 'windowsize 64'], 64],
    [['--option', 'blksize 1468'], 1],
    [['--option', 'blksize 1468', '--option', 'windowsize 16'], 16],
    [['--option', 'blksize 1468', '--option', 'windowsize 64', '--option', 'tsize 0'], 44], // capped: 44 x 1468 <= 64 KiB
  ])('atftp %j', async (args, ws) => {
    const o = outFile();
    const r = await run('atftp', [...args, '-g', '-r', 'big.bin', '-l', o, '127.0.0.1', String(t.port)]);
    expect(r.code).toBe(0);
    sameAs(o, 'big.bin');
    const line = t.lines.filter((l) => l.file === 'big.bin' && l.outcome === 'ok').at(-1)!;
    expect(line.windowsize).toBe(ws);
  });
  it.each(['big.bin', 'empty.bin', 'exact.bin'])('tftp-hpa -m binary %s', async (name) => {
    const o = outFile();
    const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(t.port), '-c', 'get', name, o]);
    expect(r.code).toBe(0);
    sameAs(o, name);
  });
  it('tftp-hpa -m ascii (netascii, converted back by the client)', async () => {
    const o = outFile();
    await run('tftp', ['-m', 'ascii', '127.0.0.1', String(t.port), '-c', 'get', 'text.txt', o]);
    // tftp-hpa turns CR LF back into LF and CR NUL into CR: the original bytes.
    sameAs(o, 'text.txt');
    expect(t.lines.some((l) => l.file === 'text.txt' && l.outcome === 'ok')).toBe(true);
  });
  it.each([[[]], [['-b', '1468']], [['-b', '8192']]])('busybox tftp %j', async (extra) => {
    const o = outFile();
    const r = await run('busybox', ['tftp', ...extra, '-g', '-r', 'big.bin', '-l', o, '127.0.0.1', String(t.port)]);
    expect(r.code).toBe(0);
    sameAs(o, 'big.bin');
  });
  it('block numbers roll over past 65535 (curl, blksize 8, 75 000 blocks)', async () => {
    const data = randomBytes(600_000);
    writeFileSync(join(root, 'roll.bin'), data);
    const o = outFile();
    await run('curl', ['-sS', '--tftp-blksize', '8', '-o', o, `tftp://127.0.0.1:${t.port}/roll.bin`], 120_000);
    expect(sha256File(o)).toBe(sha256(data));
  });
  it('block numbers roll over with windows (atftp, blksize 8, windowsize 16)', async () => {
    const data = randomBytes(600_000);
    writeFileSync(join(root, 'roll2.bin'), data);
    const o = outFile();
    const r = await run('atftp', ['--option', 'blksize 8', '--option', 'windowsize 16', '-g', '-r', 'roll2.bin', '-l', o, '127.0.0.1', String(t.port)], 120_000);
    expect(r.code).toBe(0);
    expect(sha256File(o)).toBe(sha256(data));
  });
});

describe('refusals', () => {
  it('WRQ gets ERROR 2 and nothing is written (atftp -p)', async () => {
    const before = readdirSync(root).sort();
    const src = join(dir, 'upload-me.txt');
    writeFileSync(src, 'should never arrive');
    const r = await run('atftp', ['-p', '-l', src, '-r', 'uploaded.txt', '127.0.0.1', String(t.port)]);
    expect(r.code).not.toBe(0);
    expect(readdirSync(root).sort()).toEqual(before);
    expect(existsSync(join(root, 'uploaded.txt'))).toBe(false);
    const c = await RawClient.open();
    c.request(t.port, 'x.txt', [], 'octet', 'WRQ');
    const d = await c.next();
    c.close();
    expect(d?.packet).toMatchObject({ opcode: 'ERROR', code: 2 });
    expect(t.lines.some((l) => l.level === 40 && String(l.msg).includes('uploaded.txt') && String(l.reason).includes('read-only'))).toBe(true);
  });
  it('missing file -> ERROR 1, also when tsize is asked', async () => {
    expect((await rawGet(t.port, 'nope.bin')).error?.code).toBe(1);
    expect((await rawGet(t.port, 'nope.bin', [opt('tsize', 0)])).error?.code).toBe(1);
    const r = await run('curl', ['-sS', '-o', outFile(), `tftp://127.0.0.1:${t.port}/nope.bin`]);
    expect(r.code).not.toBe(0);
  });
  it('unknown mode -> ERROR 4; malformed request -> ERROR 4; stray datagrams ignored', async () => {
    const c = await RawClient.open();
    c.request(t.port, 'big.bin', [], 'mail');
    expect((await c.next())?.packet).toMatchObject({ opcode: 'ERROR', code: 4 });
    c.send(Buffer.from('\x00\x01big.bin\x00oct', 'latin1'), t.port);
    expect((await c.next())?.packet).toMatchObject({ opcode: 'ERROR', code: 4 });
    c.send(Buffer.from([0, 4, 0, 1]), t.port);
    c.send(Buffer.from([9, 9, 9]), t.port);
    c.send(Buffer.alloc(0), t.port);
    expect(await c.collect(200)).toEqual([]);
    c.close();
    // still serving
    expect(sha256((await rawGet(t.port, 'ltsp/snponly.efi')).data)).toBe(sha256(files['ltsp/snponly.efi']!));
  });
});

describe('options and OVMF', () => {
  it('OVMF: tsize probe, ERROR 8 ends quietly, second request from the same port downloads', async () => {
    const c = await RawClient.open();
    c.request(t.port, 'ltsp/snponly.efi', [opt('tsize', 0), opt('blksize', 1468), opt('windowsize', 4)]);
    const first = await c.next();
    expect(first?.packet).toEqual({ opcode: 'OACK', options: [opt('tsize', 200_000), opt('blksize', 1468), opt('windowsize', 4)] });
    c.send(encodeTftp({ opcode: 'ERROR', code: 8, message: 'User aborted' }), first!.rinfo.port);
    expect(await c.collect(800)).toEqual([]); // nothing more, not even after the retransmit timeout
    const line = t.lines.find((l) => l.client === `127.0.0.1:${c.port}` && l.file === 'ltsp/snponly.efi' && l.outcome);
    expect(line).toMatchObject({ outcome: 'aborted', level: 30 });
    const r = await rawGet(t.port, 'ltsp/snponly.efi', [opt('blksize', 1468), opt('windowsize', 4)], c);
    c.close();
    expect(r.oack).toEqual([opt('blksize', 1468), opt('windowsize', 4)]);
    expect(sha256(r.data)).toBe(sha256(files['ltsp/snponly.efi']!));
    expect(r.tid).not.toBe(first!.rinfo.port); // one ephemeral port per transfer
    expect(r.tid).not.toBe(t.port);
  });
  it('iPXE: blksize 1432 tsize 0', async () => {
    const r = await rawGet(t.port, 'ltsp/snponly.efi', [opt('blksize', 1432), opt('tsize', 0)]);
    expect(r.oack).toEqual([opt('blksize', 1432), opt('tsize', 200_000)]);
    expect(sha256(r.data)).toBe(sha256(files['ltsp/snponly.efi']!));
  });
  it('no OACK when no option is accepted', async () => {
    const c = await RawClient.open();
    c.request(t.port, 'big.bin', [opt('frobnicate', 1), opt('blksize', 4), opt('timeout', 0)]);
    const d = await c.next();
    c.close();
    expect(d?.packet).toMatchObject({ opcode: 'DATA', block: 1 });
    expect((d!.packet as { data: Uint8Array }).data.length).toBe(512);
  });
  it('timeout option echoed; blksize capped by MTU - 32', async () => {
    const s = await startTestServer(root, {}, 1500);
    const r = await rawGet(s.port, 'exact.bin', [opt('blksize', 65464), opt('timeout', 3)]);
    await s.server.close();
    expect(r.oack).toEqual([opt('blksize', 1468), opt('timeout', 3)]);
    expect(sha256(r.data)).toBe(sha256(files['exact.bin']!));
  });
  it('netascii on the wire: LF -> CR LF, CR -> CR NUL; tsize not offered', async () => {
    const c = await RawClient.open();
    c.request(t.port, 'text.txt', [opt('tsize', 0)], 'NetASCII');
    const d = await c.next();
    c.close();
    expect(d?.packet).toMatchObject({ opcode: 'DATA', block: 1 });
    expect(Buffer.from((d!.packet as { data: Uint8Array }).data).toString('latin1').startsWith('line one\r\nline two\r\x00\r\nbare\r\x00cr\r\n')).toBe(true);
  });
});

describe('retransmission', () => {
  it('a duplicate ACK never triggers a resend; a partial ACK resumes after it (RFC 7440 4)', async () => {
    const s = await startTestServer(root, { retransmitMs: 5000 });
    const c = await RawClient.open();
    c.request(s.port, 'big.bin', [opt('blksize', 512), opt('windowsize', 4)]);
    const oack = await c.next();
    const tid = oack!.rinfo.port;
    c.send(encodeTftp({ opcode: 'ACK', block: 0 }), tid);
    const blocks = (await c.collect(300)).map((d) => (d.packet as { block: number }).block);
    expect(blocks).toEqual([1, 2, 3, 4]);
    for (let i = 0; i < 5; i++) c.send(encodeTftp({ opcode: 'ACK', block: 4 }), tid); // 1 ACK + 4 duplicates
    expect((await c.collect(300)).map((d) => (d.packet as { block: number }).block)).toEqual([5, 6, 7, 8]);
    c.send(encodeTftp({ opcode: 'ACK', block: 6 }), tid); // client lost 7
    expect((await c.collect(300)).map((d) => (d.packet as { block: number }).block)).toEqual([7, 8, 9, 10]);
    for (let i = 0; i < 3; i++) c.send(encodeTftp({ opcode: 'ACK', block: 6 }), tid); // stale duplicates
    c.send(encodeTftp({ opcode: 'ACK', block: 2 }), tid);
    expect(await c.collect(300)).toEqual([]);
    c.close();
    await s.server.close();
  });
  it('retransmits on timeout with backoff, then gives up', async () => {
    const s = await startTestServer(root, { retransmitMs: 100, retries: 3 });
    const c = await RawClient.open();
    c.request(s.port, 'big.bin');
    const got = await c.collect(2000); // 100 + 200 + 400 + 800 ms
    c.close();
    expect(got.map((d) => (d.packet as { block: number }).block)).toEqual([1, 1, 1, 1]);
    await waitFor(() => s.server.activeTransfers() === 0, 2000, 'transfer to give up');
    expect(s.lines.find((l) => l.file === 'big.bin' && l.outcome)).toMatchObject({ outcome: 'timeout', retransmits: 3, level: 40 });
    await s.server.close();
  });
  it('the same RRQ twice (client retry) starts one transfer', async () => {
    const c = await RawClient.open();
    c.request(t.port, 'exact.bin');
    c.request(t.port, 'exact.bin');
    const got = await c.collect(300);
    c.close();
    expect(got[0]?.packet).toMatchObject({ opcode: 'DATA', block: 1 });
    expect(new Set(got.map((d) => d.rinfo.port)).size).toBe(1); // one TID (a retransmit may come from it)
  });
});

describe('files and limits', () => {
  it('a file replaced on disk mid-transfer keeps sending the opened bytes', async () => {
    const name = 'swap.img';
    const oldData = randomBytes(300_000);
    const newData = randomBytes(300_000);
    writeFileSync(join(root, name), oldData);
    const c = await RawClient.open();
    c.request(t.port, name);
    const first = await c.next();
    expect(first?.packet).toMatchObject({ opcode: 'DATA', block: 1 });
    writeFileSync(join(root, `${name}.new`), newData);
    renameSync(join(root, `${name}.new`), join(root, name)); // how image builders publish
    const chunks = [Buffer.from((first!.packet as { data: Uint8Array }).data)];
    let block = 1;
    c.send(encodeTftp({ opcode: 'ACK', block }), first!.rinfo.port);
    for (;;) {
      const d = await c.next();
      if (d?.packet?.opcode !== 'DATA') throw new Error('expected DATA');
      chunks.push(Buffer.from(d.packet.data));
      block = d.packet.block;
      c.send(encodeTftp({ opcode: 'ACK', block }), d.rinfo.port);
      if (d.packet.data.length < 512) break;
    }
    c.close();
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(oldData));
    expect(readFileSync(join(root, name)).equals(newData)).toBe(true);
  });
  it('concurrency cap: a clear ERROR when full', async () => {
    const s = await startTestServer(root, { maxTransfers: 2, retransmitMs: 5000 });
    const a = await RawClient.open();
    const b = await RawClient.open();
    const c = await RawClient.open();
    a.request(s.port, 'big.bin');
    b.request(s.port, 'big.bin');
    await a.next();
    await b.next();
    c.request(s.port, 'big.bin');
    const d = await c.next();
    expect(d?.packet).toMatchObject({ opcode: 'ERROR', code: 0 });
    expect((d!.packet as { message: string }).message).toMatch(/busy/);
    expect(s.server.activeTransfers()).toBe(2);
    await s.server.close(0); // aborts the two running transfers
    expect(s.server.activeTransfers()).toBe(0);
    expect((await a.next())?.packet).toMatchObject({ opcode: 'ERROR', code: 0 });
    for (const x of [a, b, c]) x.close();
  });
  it('per-transfer log line, boot event and metrics', async () => {
    const c = await RawClient.open();
    const key = `127.0.0.1:${c.port}`;
    await rawGet(t.port, 'exact.bin', [opt('blksize', 1468)], c);
    c.close();
    await waitFor(() => t.lines.some((l) => l.client === key && l.outcome === 'ok'), 2000, 'log line');
    const line = t.lines.find((l) => l.client === key && l.outcome === 'ok')!;
    expect(line).toMatchObject({ file: 'exact.bin', bytes: 1468 * 40, blksize: 1468, windowsize: 1, retransmits: 0 });
    expect(typeof line.seconds).toBe('number');
    const ev = t.events.find((e) => e.kind === 'transfer' && e.file === 'exact.bin' && e.outcome === 'ok');
    expect(ev).toMatchObject({ service: 'tftp', ip: '127.0.0.1', bytes: 1468 * 40 });
    expect(typeof ev?.durationMs).toBe('number');
    expect(t.metrics.render()).toMatch(/ltsp_tftp_transfers_total\{outcome="ok"\} \d+/);
  });
});

// The compiled server (dist/) runs transfers on worker threads; the suites above run the
// TypeScript sources in-process. The same clients against the worker pool:
const distServer = join(process.cwd(), 'dist/src/tftp/server.js');
describe.skipIf(!existsSync(distServer))('worker threads (compiled server)', () => {
  it('curl, atftp windowsize 16 and the OVMF probe against a 2-worker pool', async () => {
    const { startTftpServer } = (await import(distServer)) as typeof import('../src/tftp/server.js');
    const { ConfigSchema } = await import('../src/config/schema.js');
    const { silentLogger } = await import('../src/log.js');
    const config = ConfigSchema.parse({ configFile: '/x', tftp: { address: '127.0.0.1', port: 0 } }).tftp;
    const s = await startTftpServer({ root, config, log: silentLogger, workers: 2 });
    try {
      for (let i = 0; i < 4; i++) {
        const o = outFile();
        await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', o, `tftp://127.0.0.1:${s.port}/big.bin`]);
        sameAs(o, 'big.bin');
      }
      const o = outFile();
      expect((await run('atftp', ['--option', 'windowsize 16', '-g', '-r', 'big.bin', '-l', o, '127.0.0.1', String(s.port)])).code).toBe(0);
      sameAs(o, 'big.bin');
      const c = await RawClient.open();
      c.request(s.port, 'ltsp/snponly.efi', [opt('tsize', 0), opt('blksize', 1468), opt('windowsize', 4)]);
      const first = await c.next();
      expect(first?.packet).toMatchObject({ opcode: 'OACK' });
      c.send(encodeTftp({ opcode: 'ERROR', code: 8, message: 'User aborted' }), first!.rinfo.port);
      const r = await rawGet(s.port, 'ltsp/snponly.efi', [opt('blksize', 1468), opt('windowsize', 4)], c);
      c.close();
      expect(sha256(r.data)).toBe(sha256(files['ltsp/snponly.efi']!));
      await waitFor(() => s.activeTransfers() === 0, 3000, 'transfers to end');
    } finally {
      await s.close();
    }
  });
});
