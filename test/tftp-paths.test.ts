/**
 * TFTP confinement: dnsmasq's name rules (pure), then a traversal corpus against a running
 * server with a canary file outside the root whose bytes must never be sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeTftpPath } from '../src/tftp/paths.js';
import { RawClient, rawGet, run, startTestServer, type Datagram, type TestServer } from './tftp-helpers.js';

describe('normalizeTftpPath (dnsmasq rules)', () => {
  const ok = (name: string, rel: string) => expect(normalizeTftpPath(name, '/srv/tftp')).toEqual({ ok: true, rel });
  const no = (name: string, code: number) => expect(normalizeTftpPath(name, '/srv/tftp')).toMatchObject({ ok: false, code });
  it('strips leading slashes, maps backslashes, drops empty and . components', () => {
    ok('/ltsp/snponly.efi', 'ltsp/snponly.efi');
    ok('\\ltsp\\undionly.kpxe', 'ltsp/undionly.kpxe');
    ok('ltsp//./ltsp.ipxe', 'ltsp/ltsp.ipxe');
    ok('..hidden', '..hidden');
    ok('a..b/c..', 'a..b/c..');
  });
  it('a name already starting with the root is taken relative to it', () => {
    ok('/srv/tftp/ltsp/snponly.efi', 'ltsp/snponly.efi');
    ok('/srv/tftpx/f', 'srv/tftpx/f');
  });
  it('refuses .., NUL, empty, too long, bad UTF-8', () => {
    no('..', 2);
    no('a/../../b', 2);
    no('\\..\\b', 2);
    no('/srv/tftp/../etc/passwd', 2);
    no('a\0b', 2);
    no('', 1);
    no('///', 1);
    no('x'.repeat(256), 1);
    no('a/'.repeat(2100), 1);
    no('\xff\xfe', 1);
  });
});

describe('traversal corpus against the server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ltsp-tftp-paths-'));
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  const canaryText = `CANARY-${randomBytes(12).toString('hex')}`;
  const canary = join(outside, 'canary.txt');
  let t: TestServer;
  const received: Buffer[] = [];

  beforeAll(async () => {
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(canary, canaryText.repeat(50));
    writeFileSync(join(dir, 'canary.txt'), canaryText.repeat(50));
    writeFileSync(join(root, 'ok.txt'), 'inside the root\n');
    writeFileSync(join(root, 'sub', 'ok.txt'), 'inside sub\n');
    symlinkSync('../outside/canary.txt', join(root, 'link-out'));
    symlinkSync(canary, join(root, 'link-abs'));
    symlinkSync(outside, join(root, 'dir-out'));
    symlinkSync('../../outside/canary.txt', join(root, 'sub', 'link-up'));
    symlinkSync('link-out', join(root, 'chain'));
    symlinkSync('/etc/passwd', join(root, 'etc-passwd'));
    symlinkSync('sub/ok.txt', join(root, 'link-in'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
    t = await startTestServer(root);
  });
  afterAll(async () => {
    await t?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const L = (s: string) => Buffer.from(s, 'utf8').toString('latin1'); // names as UTF-8 bytes on the wire
  const corpus: [label: string, name: string][] = [
    ['dotdot', '..'],
    ['dotdot slash', '../'],
    ['parent file', '../outside/canary.txt'],
    ['two up', '../../canary.txt'],
    ['a/../../', 'a/../../outside/canary.txt'],
    ['sub/../..', 'sub/../../outside/canary.txt'],
    ['.. staying inside', 'sub/../ok.txt'],
    ['backslash \\..\\', '\\..\\outside\\canary.txt'],
    ['backslash ..\\', '..\\canary.txt'],
    ['mixed slashes', 'sub\\../..\\outside/canary.txt'],
    ['/../', '/../outside/canary.txt'],
    ['//../', '//../outside/canary.txt'],
    ['./../', './../outside/canary.txt'],
    ['absolute canary', canary],
    ['absolute /etc/passwd', '/etc/passwd'],
    ['root prefix then ..', `${root}/../outside/canary.txt`],
    ['%2e%2e', '%2e%2e/outside/canary.txt'],
    ['%2e%2e%2f', '%2e%2e%2foutside%2fcanary.txt'],
    ['..%2f', '..%2f..%2fcanary.txt'],
    ['%00', 'ok.txt%00../canary.txt'],
    ['....//', '....//outside/canary.txt'],
    ['...', '.../outside/canary.txt'],
    ['one-dot leaders', L('\u2024\u2024/outside/canary.txt')],
    ['fullwidth dots', L('\uff0e\uff0e/outside/canary.txt')],
    ['fifty ..', `${'../'.repeat(50)}canary.txt`],
    ['very long name', `${'a/'.repeat(3000)}x`],
    ['long component', 'x'.repeat(300)],
    ['empty', ''],
    ['only slash', '/'],
    ['bad UTF-8', '\xff\xfe.txt'],
    ['symlink relative out', 'link-out'],
    ['symlink absolute out', 'link-abs'],
    ['dir symlink out', 'dir-out/canary.txt'],
    ['nested symlink up', 'sub/link-up'],
    ['symlink chain out', 'chain'],
    ['symlink to /etc/passwd', 'etc-passwd'],
    ['fifo', 'fifo'],
    ['directory', 'sub'],
  ];

  it(`has at least 30 names`, () => expect(corpus.length).toBeGreaterThanOrEqual(30));

  it.each(corpus)('%s: refused with an ERROR and a log line, no byte served', async (_label, name) => {
    const c = await RawClient.open();
    const client = `127.0.0.1:${c.port}`;
    c.request(t.port, name);
    const d = await c.next(3000);
    const rest = await c.collect(100);
    c.close();
    for (const x of [d, ...rest] as Datagram[]) if (x) received.push(x.raw);
    expect(d?.packet?.opcode).toBe('ERROR');
    expect([1, 2]).toContain((d!.packet as { code: number }).code);
    expect(rest).toEqual([]);
    const lines = t.lines.filter((l) => l.client === client);
    expect(lines.some((l) => l.level === 40 && typeof l.reason === 'string' && l.file === name)).toBe(true);
  });

  it('NUL bytes inside the request: never a file outside the root', async () => {
    const c = await RawClient.open();
    for (const raw of ['\x00\x01ok.txt\x00../outside/canary.txt\x00octet\x00', '\x00\x01../outside\x00canary.txt\x00octet\x00', '\x00\x01\x00octet\x00']) {
      c.send(Buffer.from(raw, 'latin1'), t.port);
      const d = await c.next();
      received.push(d!.raw);
      expect(d?.packet?.opcode).toBe('ERROR');
    }
    c.close();
  });

  it('real clients asking for ../ get errors (atftp, curl --path-as-is, tftp-hpa)', async () => {
    const out = join(dir, 'dl');
    const names = ['../outside/canary.txt', 'link-out', '\\..\\outside\\canary.txt'];
    for (const name of names) {
      await run('atftp', ['-g', '-r', name, '-l', out, '127.0.0.1', String(t.port)]);
      if (existsSync(out)) expect(readFileSync(out, 'latin1')).not.toContain('CANARY');
      await run('tftp', ['-m', 'binary', '127.0.0.1', String(t.port), '-c', 'get', name, out]);
      if (existsSync(out)) expect(readFileSync(out, 'latin1')).not.toContain('CANARY');
    }
    const r = await run('curl', ['-sS', '--path-as-is', '-o', out, `tftp://127.0.0.1:${t.port}/../outside/canary.txt`]);
    expect(r.code).not.toBe(0);
    if (existsSync(out)) expect(readFileSync(out, 'latin1')).not.toContain('CANARY');
  });

  it('symlinks inside the root are followed', async () => {
    const r = await rawGet(t.port, 'link-in');
    expect(r.data.toString()).toBe('inside sub\n');
    expect((await rawGet(t.port, '/sub/ok.txt')).data.toString()).toBe('inside sub\n');
    expect((await rawGet(t.port, '\\sub\\ok.txt')).data.toString()).toBe('inside sub\n');
  });

  it('the canary never appeared in any datagram', () => {
    expect(received.length).toBeGreaterThan(30);
    for (const b of received) expect(b.toString('latin1')).not.toContain('CANARY');
  });

  it('followSymlinksOutside: symlinks may leave the root, .. still may not', async () => {
    const s = await startTestServer(root, { followSymlinksOutside: true });
    try {
      expect((await rawGet(s.port, 'link-out')).data.toString()).toBe(canaryText.repeat(50));
      expect((await rawGet(s.port, 'dir-out/canary.txt')).data.toString()).toBe(canaryText.repeat(50));
      expect((await rawGet(s.port, '../outside/canary.txt')).error?.code).toBe(2);
    } finally {
      await s.server.close();
    }
  });
});
