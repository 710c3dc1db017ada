/**
 * `ltsp-ts serve` as a process: the start-up check (a port held by a real tftpd, missing
 * boot files), SIGHUP reload while a transfer runs, SIGTERM drain. Ports are unprivileged
 * and random; clients are Debian's curl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, mkdir, rm, writeFile, readFile, stat } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const run = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

interface Served {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function serve(args: string[]): Served {
  const proc = spawn('node', ['bin/ltsp-ts.js', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, out: () => out, exited };
}

async function waitFor(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForSize(file: string, bytes: number): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const size = await stat(file).then((st) => st.size, () => 0);
    if (size >= bytes) return;
    if (Date.now() > end) throw new Error(`${file} did not reach ${bytes} bytes`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ltsp-ts serve (process)', () => {
  let root: string;
  let tftpDir: string;
  let baseDir: string;
  let conf: string;
  const big = randomBytes(48 << 20);

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'ltsp-serve-'));
    tftpDir = path.join(root, 'tftp');
    baseDir = path.join(root, 'base');
    await mkdir(path.join(tftpDir, 'ltsp'), { recursive: true });
    await mkdir(path.join(baseDir, 'images'), { recursive: true });
    await writeFile(path.join(tftpDir, 'ltsp', 'big.bin'), big);
    await writeFile(path.join(baseDir, 'images', 'x86_64.img'), 'x');
    conf = path.join(root, 'ltsp.conf');
    await writeFile(conf, '[server]\nMENU_TIMEOUT=5000\n');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const common = () => ['--config', conf, '--tftp-dir', tftpDir, '--base-dir', baseDir, '--interface', 'lo', '--server-ip', '127.0.0.1', '--no-dhcp'];

  it('refuses to start when another TFTP server holds the port, naming it', async () => {
    const port = await freePort();
    const tftpd = spawn('in.tftpd', ['-L', '-a', `127.0.0.1:${port}`, '-s', tftpDir], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const s = serve([...common(), '--tftp-port', String(port), '--no-http']);
      const code = await Promise.race([s.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
      expect(code).toBe(2);
      expect(s.out()).toMatch(new RegExp(`UDP port ${port} on 127\\.0\\.0\\.1 is already in use by in\\.tftpd \\(pid ${tftpd.pid}\\)`));
    } finally {
      tftpd.kill('SIGKILL');
    }
  });

  it('--check flags missing boot files with the command that fixes them', async () => {
    const { stdout, stderr } = await run('node', ['bin/ltsp-ts.js', 'serve', ...common(), '--check', '--tftp-port', String(await freePort()), '--http-port', String(await freePort())], { timeout: 60_000 });
    const out = stdout + stderr;
    expect(out).toMatch(/boot file for bios: ltsp\/undionly\.kpxe MISSING/);
    expect(out).toMatch(/undionly\.kpxe is missing \(run: ltsp-ts ipxe\)/);
    expect(out).toMatch(/image x86_64: vmlinuz missing .* \(run: ltsp-ts kernel x86_64\)/);
    expect(out).toMatch(/ltsp\.img is missing/);
  });

  it('SIGHUP reloads ltsp.conf while a transfer continues; SIGTERM lets a transfer finish', async () => {
    const tftpPort = await freePort();
    const httpPort = await freePort();
    const s = serve([...common(), '--tftp-port', String(tftpPort), '--http-port', String(httpPort), '--log-level', 'info', '--drain-seconds', '120']);
    try {
      await waitFor('serving', () => /"msg":"serving|serving/.test(s.out()));
      const script = async () => (await (await fetch(`http://127.0.0.1:${httpPort}/ltsp/ltsp.ipxe`)).text());
      expect(await script()).toMatch(/set menu-timeout 5000/);

      // A slow lock-step download (blksize 512) runs while the config changes and HUP arrives.
      const dl1 = path.join(root, 'dl1.bin');
      const t1 = run('curl', ['-s', '--tftp-blksize', '512', '-o', dl1, `tftp://127.0.0.1:${tftpPort}/ltsp/big.bin`], { timeout: 120_000 });
      await waitForSize(dl1, 1 << 20);
      await writeFile(conf, '[server]\nMENU_TIMEOUT=1234\n');
      s.proc.kill('SIGHUP');
      await waitFor('reload', () => /configuration re-read/.test(s.out()));
      expect(await script()).toMatch(/set menu-timeout 1234/);
      await t1;
      expect(sha(await readFile(dl1))).toBe(sha(big));

      // SIGTERM in the middle of a transfer: it completes, then the process exits 0.
      const dl2 = path.join(root, 'dl2.bin');
      const t2 = run('curl', ['-s', '--tftp-blksize', '512', '-o', dl2, `tftp://127.0.0.1:${tftpPort}/ltsp/big.bin`], { timeout: 120_000 });
      // SIGTERM only once the transfer is under way (curl writes as blocks arrive).
      await waitForSize(dl2, 1 << 20);
      s.proc.kill('SIGTERM');
      await t2.catch((e) => {
        throw new Error(`download during drain failed: ${e.message}\n--- serve output ---\n${s.out().slice(-3000)}`);
      });
      expect(sha(await readFile(dl2))).toBe(sha(big));
      expect(await s.exited).toBe(0);
      expect(s.out()).toMatch(/SIGTERM: stopping/);
    } finally {
      s.proc.kill('SIGKILL');
    }
  }, 180_000);
});
