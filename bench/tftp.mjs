#!/usr/bin/env node
/**
 * TFTP benchmark: ltsp-ts (`ltsp-ts serve --no-dhcp --no-http`) side by side with tftpd-hpa
 * (`in.tftpd -L`) and dnsmasq (`--port=0 --enable-tftp`) in one run, on loopback.
 *
 *   npm run build && node bench/tftp.mjs            # full: 64 MiB x 5 rounds, 50 x 16 MiB, 200 for RSS
 *   TFTP_BENCH_QUICK=1 node bench/tftp.mjs          # smoke run (small files, 2 rounds)
 *
 * Needs: curl, atftp, in.tftpd, dnsmasq; root only for dnsmasq (it needs UDP 69, here on
 * 127.0.0.69, because it has no TFTP port option). Numbers are medians; the machine is shared,
 * so read the ratios (same run, same clients) rather than the absolute figures.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';

const QUICK = process.env.TFTP_BENCH_QUICK === '1' || process.argv.includes('--quick');
const MiB = 1024 * 1024;
const BIG = QUICK ? 8 * MiB : 64 * MiB;
const MID = QUICK ? 4 * MiB : 16 * MiB;
const RSS_FILE = 4 * MiB;
const ROUNDS = QUICK ? 2 : 5;
const CONC = QUICK ? 10 : 50;
const CONC_ROUNDS = QUICK ? 1 : 3;
const RSS_CONC = QUICK ? 50 : 200;
const DNSMASQ_ADDR = '127.0.0.69';
const CLK_TCK = 100;
const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function writeRandom(path, size) {
  const fd = openSync(path, 'w');
  for (let off = 0; off < size; off += MiB) writeSync(fd, randomBytes(Math.min(MiB, size - off)));
  closeSync(fd);
}

/** Runs a command; resolves with exit code, stdout and wall seconds (hard timeout). */
function run(cmd, args, timeoutMs = 300_000) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

/** utime+stime+cutime+cstime of a process, all threads. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}
/** [user, sys] seconds of a process, all threads. */
function cpuSplit(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) / CLK_TCK, Number(f[12]) / CLK_TCK];
}
function peakRssMB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function freePort() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Waits until the server answers an RRQ for a missing file with anything. */
async function waitUp(address, port) {
  for (let i = 0; i < 100; i++) {
    const r = await run('curl', ['-s', '--max-time', '1', '-o', '/dev/null', `tftp://${address}:${port}/__probe__`], 5000);
    if (r.code === 68 || r.code === 0) return; // 68 = TFTP file not found: the server answered
    await sleep(100);
  }
  throw new Error(`server on ${address}:${port} did not come up`);
}

const dir = mkdtempSync(join(tmpdir(), 'ltsp-bench-tftp-'));
const root = join(dir, 'root');
const children = [];

async function main() {
  await run('mkdir', ['-p', root]);
  writeRandom(join(root, 'big'), BIG);
  writeRandom(join(root, 'mid'), MID);
  writeRandom(join(root, 'rss'), RSS_FILE);
  const sha = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');
  const bigSha = sha(join(root, 'big'));

  const servers = [];
  writeFileSync(join(dir, 'ltsp.conf'), '# empty: defaults\n');
  const ourPort = await freePort();
  const ours = spawn(process.execPath, [join(repo, 'bin/ltsp-ts.js'), 'serve', '--no-dhcp', '--no-http', '--tftp-port', String(ourPort), '--tftp-dir', root, '--config', join(dir, 'ltsp.conf'), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(ours);
  servers.push({ name: 'ltsp-ts', address: '127.0.0.1', port: ourPort, pid: ours.pid });

  const hpaPort = await freePort();
  const hpa = spawn('in.tftpd', ['-L', '-a', `127.0.0.1:${hpaPort}`, '-s', root], { stdio: 'ignore' });
  children.push(hpa);
  servers.push({ name: 'tftpd-hpa', address: '127.0.0.1', port: hpaPort, pid: hpa.pid });

  const dnsmasq = spawn('dnsmasq', ['-d', '-C', '/dev/null', '--port=0', '--enable-tftp', `--tftp-root=${root}`, `--listen-address=${DNSMASQ_ADDR}`, '--bind-interfaces', '--user=root', `--tftp-max=${RSS_CONC + 50}`, '--quiet-tftp', `--pid-file=${join(dir, 'dnsmasq.pid')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let dnsErr = '';
  dnsmasq.stderr.on('data', (d) => (dnsErr += d));
  children.push(dnsmasq);
  await sleep(300);
  if (dnsmasq.exitCode !== null) console.log(`dnsmasq did not start (UDP ${DNSMASQ_ADDR}:69 busy or no root?): ${dnsErr.trim()}`);
  else servers.push({ name: 'dnsmasq', address: DNSMASQ_ADDR, port: 69, pid: dnsmasq.pid });

  await sleep(500);
  if (ours.exitCode !== null) throw new Error('ltsp-ts serve exited at start');
  for (const s of servers) await waitUp(s.address, s.port);
  console.log(`files: ${BIG / MiB} MiB (single), ${MID / MiB} MiB x ${CONC} (concurrent), ${RSS_FILE / MiB} MiB x ${RSS_CONC} (RSS); ${ROUNDS} rounds${QUICK ? ' (quick mode)' : ''}\n`);

  const url = (s, f) => `tftp://${s.address}:${s.port}/${f}`;
  const tests = {
    curl: (s, out) => run('curl', ['-sS', '--tftp-blksize', '1468', '-o', out, url(s, 'big')]),
    atftp16: (s, out) => run('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', 'big', '-l', out, s.address, String(s.port)]),
  };
  const res = {};
  for (const s of servers) res[s.name] = { curl: [], atftp16: [], cpuCurl: 0, cpuAtftp: 0, conc: [], concCpu: [], concOk: 0, concTotal: 0, usCurl: [0, 0], usConc: [0, 0] };
  const addSplit = (acc, before, pid) => cpuSplit(pid).forEach((x, i) => (acc[i] += x - before[i]));

  // Servers take turns going first (round r starts at server r): on this shared 2-vCPU box a
  // fixed order showed position effects as large as the differences being measured.
  const inTurn = (round) => servers.map((_, i) => servers[(i + round) % servers.length]);

  // Single transfers, interleaved rounds; the first round's downloads are checked by sha256.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [test, fn] of Object.entries(tests)) {
      for (const s of inTurn(round)) {
        const out = round === 0 ? join(dir, `out-${s.name}-${test}`) : '/dev/null';
        const c0 = cpuSeconds(s.pid);
        const u0 = cpuSplit(s.pid);
        const r = await fn(s, out);
        const cpu = cpuSeconds(s.pid) - c0;
        if (test === 'curl') addSplit(res[s.name].usCurl, u0, s.pid);
        if (r.code !== 0) throw new Error(`${test} against ${s.name} failed (${r.code}): ${r.err}`);
        if (round === 0) {
          if (sha(out) !== bigSha) throw new Error(`${test} against ${s.name}: sha256 mismatch`);
          rmSync(out);
        }
        res[s.name][test].push(BIG / MiB / r.seconds);
        res[s.name][test === 'curl' ? 'cpuCurl' : 'cpuAtftp'] += cpu;
      }
    }
  }

  // N concurrent downloads started at once: aggregate MB/s over the wall time of the batch.
  for (let round = 0; round < CONC_ROUNDS; round++) {
    for (const s of inTurn(round)) {
      const c0 = cpuSeconds(s.pid);
      const u0 = cpuSplit(s.pid);
      const t0 = process.hrtime.bigint();
      const all = await Promise.all(Array.from({ length: CONC }, () => run('curl', ['-sS', '--tftp-blksize', '1468', '-o', '/dev/null', '-w', '%{size_download}', url(s, 'mid')], 600_000)));
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const ok = all.filter((r) => r.code === 0 && Number(r.out) === MID).length;
      res[s.name].conc.push((CONC * MID) / MiB / wall);
      res[s.name].concCpu.push(cpuSeconds(s.pid) - c0);
      addSplit(res[s.name].usConc, u0, s.pid);
      res[s.name].concOk += ok;
      res[s.name].concTotal += CONC;
    }
  }

  // Peak RSS of our server with RSS_CONC transfers at once (VmHWM: high-water mark since start).
  const us = servers[0];
  const rssRuns = await Promise.all(Array.from({ length: RSS_CONC }, () => run('curl', ['-sS', '--tftp-blksize', '1468', '-o', '/dev/null', '-w', '%{size_download}', url(us, 'rss')], 600_000)));
  const rssOk = rssRuns.filter((r) => r.code === 0 && Number(r.out) === RSS_FILE).length;
  const rss = peakRssMB(us.pid);

  // ---- report ----
  const base = res['tftpd-hpa'];
  const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const rows = [];
  const mbPerMiB = (cpu, n) => cpu / ((BIG / MiB) * n);
  for (const s of servers) {
    const r = res[s.name];
    rows.push({
      server: s.name,
      curl: median(r.curl),
      atftp16: median(r.atftp16),
      conc: median(r.conc),
      ok: `${r.concOk}/${r.concTotal}`,
      cpuCurl: mbPerMiB(r.cpuCurl, ROUNDS) * 1000,
      cpuAtftp: mbPerMiB(r.cpuAtftp, ROUNDS) * 1000,
      cpuConc: (median(r.concCpu) / ((CONC * MID) / MiB)) * 1000,
    });
  }
  const hdr = ['server', 'curl 1468 MB/s', 'x hpa', 'atftp 1468 ws16 MB/s', 'x hpa lock-step', `${CONC}x${MID / MiB}MiB MB/s`, 'x hpa', 'all ok', 'CPU ms/MiB curl', 'CPU ms/MiB atftp', `CPU ms/MiB ${CONC}x`];
  console.log(`| ${hdr.join(' | ')} |`);
  console.log(`|${hdr.map(() => '---').join('|')}|`);
  const hpaCurl = median(base.curl);
  for (const r of rows) {
    // in.tftpd forks a child per transfer and does not reap them in a way /proc accounts for.
    const cpu = (x) => (r.server === 'tftpd-hpa' ? 'n/a' : fmt(x, 2));
    console.log(
      `| ${[r.server, fmt(r.curl), fmt(r.curl / hpaCurl, 2), fmt(r.atftp16), fmt(r.atftp16 / hpaCurl, 2), fmt(r.conc), fmt(r.conc / median(base.conc), 2), r.ok, cpu(r.cpuCurl), cpu(r.cpuAtftp), cpu(r.cpuConc)].join(' | ')} |`,
    );
  }
  console.log(`\n"x hpa lock-step" = atftp windowsize 16 throughput / tftpd-hpa's curl lock-step throughput (tftpd-hpa and dnsmasq ignore windowsize).`);
  console.log(`CPU = server process CPU (all threads) per MiB delivered; tftpd-hpa forks per transfer, so its CPU is not measured.`);
  const dns = rows.find((r) => r.server === 'dnsmasq');
  const ourRow = rows[0];
  if (dns) console.log(`ltsp-ts CPU per MiB vs dnsmasq: curl ${fmt(ourRow.cpuCurl / dns.cpuCurl, 2)}x, ${CONC} concurrent ${fmt(ourRow.cpuConc / dns.cpuConc, 2)}x`);
  // Per DATA block (lock-step: one ACK received, one DATA sent): where our CPU goes.
  const perBlock = ([u, sy], bytes) => {
    const blocks = bytes / 1468;
    return `user ${fmt((u / blocks) * 1e6)} + sys ${fmt((sy / blocks) * 1e6)} us`;
  };
  const ourRes = res[servers[0].name];
  console.log(`ltsp-ts CPU per block: curl ${perBlock(ourRes.usCurl, BIG * ROUNDS)}; ${CONC} concurrent ${perBlock(ourRes.usConc, CONC * MID * CONC_ROUNDS)}`);
  console.log(`ltsp-ts peak RSS after ${RSS_CONC} concurrent ${RSS_FILE / MiB} MiB transfers: ${fmt(rss)} MB (${rssOk}/${RSS_CONC} complete)`);
}

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
