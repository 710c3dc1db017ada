#!/usr/bin/env node
/**
 * bench/http: ltsp-ts's HTTP file serving side by side with nginx (sendfile on) in one run.
 *
 *   npx tsc -p . && node bench/http.mjs            # full: 1 GiB file, 5 rounds
 *   node bench/http.mjs --quick                     # smoke: 128 MiB file, 2 rounds
 *   node bench/http.mjs --rounds 7 --size-mib 1024 --ranges 500 --concurrency 8
 *   node bench/http.mjs --with-floor               # + a bare node:http server in the ranges test
 *   node bench/http.mjs --only ranges              # just the small-ranges test (iterating on it)
 *
 * Both servers serve the same file from the same temp dir on 127.0.0.1 (random ports),
 * nginx as `nginx -c <generated conf>` with worker_processes 1 and sendfile on, ltsp-ts as
 * a child process running dist/src/http/server.js with its access log at info level to a
 * file through the daemon's logger (src/log.ts; nginx writes its access log too). Clients are curl processes; every download's
 * size is checked. Per round, in alternating order: one full download, N concurrent full
 * downloads, one 256 MiB Range, and R random 128 KiB Ranges over one keep-alive
 * connection (curl --next; one connect is checked); before the rounds, ten unmeasured
 * passes of the ranges test per server (--warmup N) let Node's JIT settle. Prints median
 * MB/s per test, the ratio ltsp-ts/nginx, server CPU seconds (measured rounds only) and
 * peak RSS (VmHWM). The temp dir (and the big file) is removed at the end. Read the
 * ratios: the machine is shared and noisy.
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile, open } from 'node:fs/promises';
import { randomBytes, randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist', 'src');

// ---- child mode: run the ltsp-ts HTTP service ----------------------------------------
if (process.argv[2] === '--serve') {
  const [, , , tftpDir] = process.argv;
  const { startHttpServer } = await import(path.join(dist, 'http', 'server.js'));
  const { ConfigSchema } = await import(path.join(dist, 'config', 'index.js'));
  const { createLogger } = await import(path.join(dist, 'log.js'));
  const config = ConfigSchema.parse({
    configFile: '/dev/null',
    tftpDir,
    baseDir: tftpDir,
    http: { port: 0, address: '127.0.0.1' },
  });
  // The daemon's own logger (JSON lines on stderr, batched); the driver points stderr at a file.
  const log = createLogger('info', { pretty: false });
  const s = await startHttpServer({ config, log });
  process.stdout.write(`PORT ${s.port}\n`);
  process.on('SIGTERM', () => s.close().then(() => process.exit(0)));
  await new Promise(() => {});
}

// ---- child mode: the node:http floor (no file I/O at all) ------------------------------
// Answers every Range request from one preallocated buffer: what plain node:http costs per
// request on this machine, i.e. the ceiling for any Node server in the small-ranges test.
if (process.argv[2] === '--serve-floor') {
  const { createServer } = await import('node:http');
  const body = randomBytes(1 << 20);
  const srv = createServer((req, res) => {
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    const n = m ? Number(m[2]) - Number(m[1]) + 1 : body.length;
    res.writeHead(m ? 206 : 200, { 'content-length': n });
    res.end(body.subarray(0, n));
  }).listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${srv.address().port}\n`));
  process.on('SIGTERM', () => process.exit(0));
  await new Promise(() => {});
}

// ---- driver ---------------------------------------------------------------------------
function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const quick = process.argv.includes('--quick');
const SIZE = arg('--size-mib', quick ? 128 : 1024) * 2 ** 20;
const ROUNDS = arg('--rounds', quick ? 2 : 5);
const CONC = arg('--concurrency', 8);
const NRANGES = arg('--ranges', quick ? 100 : 500);
const RANGE_BIG = Math.min(256 * 2 ** 20, SIZE / 2);
const RANGE_SMALL = 128 * 1024;
const TIMEOUT_S = 300;
/** Also time the small-ranges test against a bare node:http server (see --serve-floor). */
const FLOOR = process.argv.includes('--with-floor');
/**
 * Unmeasured small-ranges passes per server before the rounds (`--warmup 0` to skip). Ten:
 * V8 optimises a function called once per request only after thousands of calls, so a fresh
 * ltsp-ts's CPU per 128 KiB range fell pass after pass (500 ranges each, all threads,
 * schedstat): 293, 274, 247, 219, 191 ... and ~120–190 µs from the 8th pass on, while the
 * compiler threads took up to ~80 µs per request early on. With two passes the measured
 * rounds were the 3rd to 7th pass. A netboot daemon runs warm; nginx needs no warm-up.
 */
const WARMUP = arg('--warmup', 10);
/** `--only ranges`: skip the three big-transfer tests (the file is still written and warmed). */
const ONLY_RANGES = process.argv.includes('--only') && process.argv[process.argv.indexOf('--only') + 1] === 'ranges';

const MB = 1e6;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: TIMEOUT_S * 1000, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** curl one URL (optionally a range) to /dev/null; returns {bytes, seconds}. */
async function curlGet(url, range) {
  const args = ['-s', '-S', '-o', '/dev/null', '--max-time', String(TIMEOUT_S), '-w', '%{size_download} %{http_code}'];
  if (range) args.push('-r', range);
  const t0 = process.hrtime.bigint();
  const out = await run('curl', [...args, url]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const [bytes, code] = out.trim().split(' ').map(Number);
  return { bytes, code, seconds };
}

async function single(url) {
  const r = await curlGet(url);
  if (r.bytes !== SIZE || r.code !== 200) throw new Error(`single: got ${r.bytes} bytes, status ${r.code}`);
  return SIZE / r.seconds / MB;
}

async function concurrent(url) {
  const t0 = process.hrtime.bigint();
  const rs = await Promise.all(Array.from({ length: CONC }, () => curlGet(url)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const r of rs) if (r.bytes !== SIZE || r.code !== 200) throw new Error(`concurrent: got ${r.bytes} bytes, status ${r.code}`);
  return (CONC * SIZE) / seconds / MB;
}

async function bigRange(url, start) {
  const r = await curlGet(url, `${start}-${start + RANGE_BIG - 1}`);
  if (r.bytes !== RANGE_BIG || r.code !== 206) throw new Error(`range: got ${r.bytes} bytes, status ${r.code}`);
  return RANGE_BIG / r.seconds / MB;
}

/** R ranges on one keep-alive connection: one curl with --next per URL (curl reuses the connection). */
async function smallRanges(url, offsets, dir) {
  const cfg = offsets
    .map((o, i) => `${i ? 'next\n' : ''}url = "${url}"\nrange = ${o}-${o + RANGE_SMALL - 1}\noutput = /dev/null\nwrite-out = "%{size_download} %{http_code} %{num_connects}\\n"\nsilent\nshow-error\n`)
    .join('');
  const file = path.join(dir, 'ranges.curl');
  await writeFile(file, cfg);
  const t0 = process.hrtime.bigint();
  const out = await run('curl', ['--max-time', String(TIMEOUT_S), '-K', file]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const lines = out.trim().split('\n').map((l) => l.split(' ').map(Number));
  if (lines.length !== offsets.length) throw new Error(`ranges: ${lines.length} answers for ${offsets.length} requests`);
  let connects = 0;
  for (const [bytes, code, c] of lines) {
    if (bytes !== RANGE_SMALL || code !== 206) throw new Error(`ranges: got ${bytes} bytes, status ${code}`);
    connects += c;
  }
  if (connects !== 1) throw new Error(`ranges: ${connects} connections instead of one keep-alive connection`);
  return (offsets.length * RANGE_SMALL) / seconds / MB;
}

async function procStatus(pid) {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
  return { hwmMiB: kb('VmHWM') / 1024 };
}

async function cpuSeconds(pid) {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  // fields after "(comm) ": state=0, utime=11, stime=12 (0-based after the comm)
  return (Number(f[11]) + Number(f[12])) / 100;
}

function waitLine(child, re, what) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${what}: no start within 10 s`)), 10_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

async function waitHttp(url) {
  for (let i = 0; i < 100; i++) {
    try {
      await run('curl', ['-s', '-o', '/dev/null', '--max-time', '1', url]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer`);
}

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ht-bench-'));
  const children = [];
  try {
    // the test file, written in 4 MiB random blocks
    // nginx's worker drops root to `nobody`: the dir must be world-readable
    await run('chmod', ['755', dir]);
    const file = path.join(dir, 'tftp', 'ltsp', 'big.img');
    await run('mkdir', ['-p', path.dirname(file), path.join(dir, 'nginx-tmp')]);
    const fh = await open(file, 'w');
    const block = randomBytes(4 << 20);
    for (let off = 0; off < SIZE; off += block.length) await fh.write(block, 0, Math.min(block.length, SIZE - off));
    await fh.close();

    // ltsp-ts
    const logFile = await open(path.join(dir, 'ltsp-ts.log'), 'w');
    const ours = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', path.join(dir, 'tftp')], {
      stdio: ['ignore', 'pipe', logFile.fd],
    });
    await logFile.close(); // the child has its own copy
    children.push(ours);
    const port = Number((await waitLine(ours, /PORT (\d+)/, 'ltsp-ts'))[1]);

    // nginx, a free port picked by binding 0 first
    const nport = await new Promise((resolve) => {
      import('node:net').then(({ createServer }) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = s.address().port;
          s.close(() => resolve(p));
        });
      });
    });
    const conf = path.join(dir, 'nginx.conf');
    await writeFile(
      conf,
      `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log;\nevents { worker_connections 256; }\n` +
        `http {\n  access_log ${dir}/nginx-access.log;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n` +
        `  client_body_temp_path ${dir}/nginx-tmp; proxy_temp_path ${dir}/nginx-tmp; fastcgi_temp_path ${dir}/nginx-tmp;\n` +
        `  uwsgi_temp_path ${dir}/nginx-tmp; scgi_temp_path ${dir}/nginx-tmp;\n` +
        `  server { listen 127.0.0.1:${nport}; root ${dir}/tftp; }\n}\n`,
    );
    const ngx = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' });
    children.push(ngx);
    const url = { 'ltsp-ts': `http://127.0.0.1:${port}/ltsp/big.img`, nginx: `http://127.0.0.1:${nport}/ltsp/big.img` };
    if (FLOOR) {
      const floor = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve-floor'], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(floor);
      url.floor = `http://127.0.0.1:${(await waitLine(floor, /PORT (\d+)/, 'floor'))[1]}/ltsp/big.img`;
    }
    await waitHttp(url.nginx);
    await waitHttp(url['ltsp-ts']);
    const nginxWorker = async () => {
      const kids = (await readFile(`/proc/${ngx.pid}/task/${ngx.pid}/children`, 'utf8')).trim().split(/\s+/).map(Number);
      return kids[0];
    };
    const pids = { 'ltsp-ts': ours.pid, nginx: await nginxWorker() };

    // warm the page cache once through each server
    await single(url.nginx);
    await single(url['ltsp-ts']);
    // Unmeasured small-ranges passes per server: a daemon runs warm (see WARMUP).
    const warm = Array.from({ length: NRANGES }, () => randomInt(0, SIZE - RANGE_SMALL + 1));
    for (const u of Object.values(url)) for (let i = 0; i < WARMUP; i++) await smallRanges(u, warm, dir);

    const names = ['ltsp-ts', 'nginx'];
    const tests = ['1 file', `${CONC} concurrent`, `${RANGE_BIG / 2 ** 20} MiB Range`, `${NRANGES}x128KiB Ranges`];
    const res = Object.fromEntries(names.map((n) => [n, Object.fromEntries(tests.map((t) => [t, []]))]));
    const floorRuns = [];
    const cpu0 = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await cpuSeconds(pids[n])])));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...names].reverse() : names;
      const bigStart = randomInt(0, SIZE - RANGE_BIG + 1);
      const offsets = Array.from({ length: NRANGES }, () => randomInt(0, SIZE - RANGE_SMALL + 1));
      if (!ONLY_RANGES) {
        for (const n of order) res[n][tests[0]].push(await single(url[n]));
        for (const n of order) res[n][tests[1]].push(await concurrent(url[n]));
        for (const n of order) res[n][tests[2]].push(await bigRange(url[n], bigStart));
      }
      for (const n of order) res[n][tests[3]].push(await smallRanges(url[n], offsets, dir));
      if (FLOOR) floorRuns.push(await smallRanges(url.floor, offsets, dir));
      const last = (n) => res[n][tests[3]].at(-1).toFixed(0);
      process.stderr.write(`round ${round + 1}/${ROUNDS} done (ranges MB/s: ltsp-ts ${last('ltsp-ts')}, nginx ${last('nginx')}${FLOOR ? `, floor ${floorRuns.at(-1).toFixed(0)}` : ''})\n`);
    }
    const cpu = Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await cpuSeconds(pids[n])) - cpu0[n]])));
    const rss = Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await procStatus(pids[n])).hwmMiB])));

    const nodeV = process.version;
    const ngxV = (await run('nginx', ['-v']).catch((e) => String(e))).trim();
    console.log(`bench/http: file ${SIZE / 2 ** 20} MiB, ${ROUNDS} rounds (median MB/s), loopback, node ${nodeV}${ngxV ? '' : ''}`);
    const w = [22, 10, 10, 8];
    const row = (...c) => c.map((x, i) => String(x).padEnd(w[i] ?? 10)).join(' ');
    console.log(row('test', 'ltsp-ts', 'nginx', 'ratio'));
    for (const t of tests) {
      if (res['ltsp-ts'][t].length === 0) continue;
      const a = median(res['ltsp-ts'][t]);
      const b = median(res.nginx[t]);
      console.log(row(t, a.toFixed(0), b.toFixed(0), (a / b).toFixed(2) + 'x'));
    }
    if (FLOOR) {
      const f = median(floorRuns);
      console.log(row(`  node:http floor`, f.toFixed(0), '', (f / median(res.nginx[tests[3]])).toFixed(2) + 'x'));
    }
    console.log(row('server CPU s (total)', cpu['ltsp-ts'].toFixed(1), cpu.nginx.toFixed(1), ''));
    console.log(row('peak RSS MiB', rss['ltsp-ts'].toFixed(0), rss.nginx.toFixed(0), ''));
    console.log(`all downloads size-checked; ${NRANGES} ranges per round on one connection; nginx RSS is its worker's`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
