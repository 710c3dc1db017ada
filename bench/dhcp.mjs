#!/usr/bin/env node
/**
 * bench/dhcp: proxyDHCP DISCOVER → OFFER rate and latency, ltsp-ts side by side with
 * dnsmasq in proxy mode (LTSP's `ltsp dnsmasq` config) in one run, then a fuzz run.
 *
 *   npx tsc -p . && node bench/dhcp.mjs                 # 500 clients, 1000 req/s, 10 s each, 10^6 fuzz packets
 *   node bench/dhcp.mjs --seconds 5 --fuzz 100000       # shorter
 *
 * Needs root (network namespaces) and dnsmasq. Two namespaces joined by a veth pair
 * (lt-dp-bench-*): the server side 10.77.0.1/24, the client side 10.77.0.2/24. The servers
 * take turns on UDP 67/4011 in the server namespace (alternating, --rounds each); the load
 * generator in the client namespace broadcasts DISCOVERs of 500 distinct simulated clients
 * (BIOS PXE, OVMF and iPXE packets from protocols/dhcp/client-packets, distinct MAC and xid)
 * at the given rate to 255.255.255.255:67 and times each until its proxy OFFER arrives on
 * port 68 (1 s timeout = lost), after a 2 s warm-up at the same rate. ltsp-ts runs as a user
 * runs it, `ltsp-ts serve --no-tftp --no-http` (so capable iPXE gets `ltsp/ltsp.ipxe` over
 * TFTP as from dnsmasq; metrics and the boot timeline on, as always), with an empty
 * ltsp.conf. Both servers log every packet to a file (dnsmasq's default DHCP logging to its
 * log-facility; ltsp-ts's JSON lines at info level on stderr, redirected to a file).
 *
 * Server CPU per request: utime+stime of the server process (/proc/PID/stat) from the start
 * to the end of the measured phase, divided by the requests sent in it. On a shared machine
 * this is far less noisy than wall-clock latency (a busy machine delays a process; it does
 * not make it use more CPU), so it is the figure to compare the two servers' own cost by.
 * `--nice N` runs both servers and the load generator at that nice level (e.g. -5 on a busy
 * machine: less time spent waiting behind other jobs, for both servers alike).
 *
 * Fuzz: 10^6 packets, each a captured or simulated client packet with 1–4 random byte
 * mutations/truncations, sent as fast as the socket takes them to ltsp-ts's port 67 and
 * 4011; then the service must still be running and answer a real OVMF DISCOVER with the
 * right OFFER.
 */
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LTSP_DNSMASQ_PXE } from './ltsp-dnsmasq.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist');
const dhcp = await import(path.join(dist, 'protocols', 'dhcp', 'index.js'));

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const SRV = '10.77.0.1';
const CLI = '10.77.0.2';

// ---------------------------------------------------------------- child: load generator
if (arg('--role') === 'load') {
  const clients = Number(arg('--clients', 500));
  const rate = Number(arg('--rate', 1000));
  const seconds = Number(arg('--seconds', 10));
  const kinds = ['bios-pxe', 'ovmf-pxe', 'ipxe-bios'];
  const packets = Array.from({ length: clients }, (_, i) =>
    Buffer.from(dhcp.clientPacketBytes(kinds[i % kinds.length], { mac: `52:54:01:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` })),
  );
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
  await new Promise((r) => sock.bind(68, '0.0.0.0', r));
  sock.setBroadcast(true);
  const sentAt = new Map();
  const lat = [];
  let dup = 0;
  sock.on('message', (m) => {
    if (m.length < 240 || m[0] !== 2) return;
    const xid = m.readUInt32BE(4);
    const t = sentAt.get(xid);
    if (t === undefined) return;
    if (t < 0) {
      dup++;
      return;
    }
    lat.push(Number(process.hrtime.bigint() - BigInt(t)) / 1e6);
    sentAt.set(xid, -1);
  });
  let xid = 0x10000000 + Math.floor(Math.random() * 0x1000000);
  /** Sends rate × secs DISCOVERs, paced every millisecond; returns the count. */
  async function blast(secs) {
    const total = rate * secs;
    const start = process.hrtime.bigint();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * rate));
      while (sent < due) {
        const b = packets[sent % clients];
        b.writeUInt32BE(++xid, 4);
        sentAt.set(xid, Number(process.hrtime.bigint()));
        sock.send(b, 67, '255.255.255.255');
        sent++;
      }
      await sleep(1);
    }
    return { sent, start };
  }
  // Warm-up (not counted): both servers get the same, so a fresh Node process is measured
  // once its JIT has settled, like a daemon that has been running.
  await blast(Number(arg('--warmup', 2)));
  await sleep(500);
  sentAt.clear();
  lat.length = 0;
  dup = 0;
  process.stdout.write('MEASURE\n'); // the driver reads the server's CPU time now and at the result
  const { sent, start } = await blast(seconds);
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  await sleep(1000);
  sock.close();
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  process.stdout.write(JSON.stringify({ sent, answered: lat.length, lost: sent - lat.length, dup, rate: sent / elapsed, p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1] ?? NaN }) + '\n');
  process.exit(0);
}

// ---------------------------------------------------------------- child: fuzzer + final check
if (arg('--role') === 'fuzz') {
  const n = Number(arg('--count', 1e6));
  const { readCapture } = await import(path.join(dist, 'protocols', 'pcap', 'index.js'));
  const seeds = dhcp.CLIENT_KINDS.map((k) => Buffer.from(dhcp.clientPacketBytes(k)));
  const fx = path.join(here, '..', 'pcap-fixtures');
  for (const f of readdirSync(fx).filter((x) => x.endsWith('.pcapng'))) {
    for (const p of readCapture(readFileSync(path.join(fx, f))).packets) if (p.protocol === 'udp' && (p.dstPort === 67 || p.dstPort === 4011)) seeds.push(Buffer.from(p.payload));
  }
  const sock = dgram.createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
  await new Promise((r) => sock.bind(0, CLI, r));
  const rnd = (k) => Math.floor(Math.random() * k);
  const mutate = (seed) => {
    let b = Buffer.from(seed);
    for (let k = 1 + rnd(4); k > 0; k--) {
      const r = rnd(10);
      if (r < 6) b[rnd(b.length)] = rnd(256);
      else if (r < 8) b = b.subarray(0, rnd(b.length + 1));
      else b = Buffer.concat([b.subarray(0, 240 + rnd(Math.max(1, b.length - 240))), Buffer.from([rnd(256), rnd(256)])]);
      if (b.length === 0) break;
    }
    return b;
  };
  const t0 = Date.now();
  let inflight = 0;
  for (let i = 0; i < n; i++) {
    const b = mutate(seeds[rnd(seeds.length)]);
    inflight++;
    sock.send(b, i & 1 ? 4011 : 67, SRV, () => inflight--);
    if (inflight > 2000) while (inflight > 200) await new Promise((r) => setImmediate(r));
  }
  while (inflight > 0) await new Promise((r) => setImmediate(r));
  const fuzzSeconds = (Date.now() - t0) / 1000;
  sock.close();
  await sleep(1000);
  // A real request afterwards: OVMF's DISCOVER from the fixture capture.
  const s68 = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise((r) => s68.bind(68, '0.0.0.0', r));
  s68.setBroadcast(true);
  const req = dhcp.clientPacketBytes('ovmf-pxe', { xid: 0x0fedcba9 });
  const got = new Promise((resolve) => {
    s68.on('message', (m) => {
      try {
        const p = dhcp.decodeDhcp(m);
        if (p.xid === 0x0fedcba9) resolve(p);
      } catch {}
    });
    setTimeout(() => resolve(null), 3000);
  });
  s68.send(req, 67, '255.255.255.255');
  const p = await got;
  const ok = p !== null && p.siaddr === SRV && dhcp.readIp(dhcp.getOption(p, 54)) === SRV && dhcp.readString(dhcp.getOption(p, 60)) === 'PXEClient';
  process.stdout.write(JSON.stringify({ sent: n, seconds: fuzzSeconds, realRequestAnswered: ok }) + '\n');
  process.exit(0);
}

// ---------------------------------------------------------------- driver
if (process.getuid?.() !== 0) {
  console.error('bench/dhcp needs root (network namespaces)');
  process.exit(1);
}
const ROUNDS = Number(arg('--rounds', 2));
const SECONDS = arg('--seconds', '10');
const RATE = arg('--rate', '1000');
const CLIENTS = arg('--clients', '500');
const FUZZ = arg('--fuzz', '1000000');
const WARMUP = arg('--warmup', '2');
const NICE = arg('--nice', undefined);
/** `nice -n N` prefix for the servers and the load generator when --nice is given. */
const niced = (a) => (NICE === undefined ? a : ['nice', '-n', NICE, ...a]);
const ns = { s: `lt-dp-bench-${process.pid}-s`, c: `lt-dp-bench-${process.pid}-c` };
const work = mkdtempSync(path.join(tmpdir(), 'ltsp-ts-bench-dhcp-'));
const procs = [];
const sh = (...a) => execFileSync(a[0], a.slice(1), { encoding: 'utf8', timeout: 30_000 });
/** Runs a child role in the client namespace (bounded: --seconds + 60 s, fuzz 15 min). */
const inClient = (timeout, ...a) => execFileSync('ip', ['netns', 'exec', ns.c, ...niced(['node', self, ...a])], { encoding: 'utf8', timeout });
/**
 * The load generator, run asynchronously so that the server's CPU time is read exactly when
 * the measured phase starts (its MEASURE line) and when it ends (its result line).
 */
function loadRound(serverPid, timeout, ...a) {
  const p = spawn('ip', ['netns', 'exec', ns.c, ...niced(['node', self, ...a])], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(p);
  let out = '';
  let cpu0;
  let cpu1;
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error('load generator timed out'));
    }, timeout);
    p.stdout.on('data', (b) => {
      out += b;
      if (cpu0 === undefined && out.includes('MEASURE\n')) cpu0 = cpuSeconds(serverPid);
      if (cpu1 === undefined && /\}\n/.test(out)) cpu1 = cpuSeconds(serverPid);
    });
    p.on('exit', (code) => {
      clearTimeout(t);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line || cpu0 === undefined) return reject(new Error(`load generator failed (${code}): ${out}`));
      resolve({ ...JSON.parse(line), cpu: cpu1 - cpu0 });
    });
  });
}
const self = fileURLToPath(import.meta.url);

function up() {
  for (const n of Object.values(ns)) {
    sh('ip', 'netns', 'add', n);
    sh('ip', '-n', n, 'link', 'set', 'lo', 'up');
  }
  sh('ip', 'link', 'add', 'bs0', 'netns', ns.s, 'type', 'veth', 'peer', 'name', 'bc0', 'netns', ns.c);
  sh('ip', '-n', ns.s, 'addr', 'add', `${SRV}/24`, 'dev', 'bs0');
  sh('ip', '-n', ns.c, 'addr', 'add', `${CLI}/24`, 'dev', 'bc0');
  sh('ip', '-n', ns.s, 'link', 'set', 'bs0', 'up');
  sh('ip', '-n', ns.c, 'link', 'set', 'bc0', 'up');
  sh('ip', '-n', ns.c, 'route', 'add', 'default', 'dev', 'bc0'); // lets the clients send 255.255.255.255
}
function down() {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'del', n], { timeout: 10_000 });
  rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  down();
  process.exit(130);
});

/**
 * Starts a server in the server namespace with its stderr in `logFile`; ready once `readyFile`
 * exists and matches `ready` (ltsp-ts: its start-up log line; dnsmasq: its pid file).
 */
function start(args, logFile, readyFile, ready) {
  const fd = openSync(logFile, 'a');
  const p = spawn('ip', ['netns', 'exec', ns.s, ...niced(args)], { stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  procs.push(p);
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-2000);
    } catch {
      return '';
    }
  };
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      try {
        if (!ready.test(readFileSync(readyFile, 'utf8'))) return;
      } catch {
        return;
      }
      clearInterval(poll);
      clearTimeout(t);
      resolve(p);
    }, 50);
    const t = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`not ready: ${args.join(' ')}\n${tail()}`));
    }, 20_000);
    p.on('exit', (c) => {
      clearInterval(poll);
      clearTimeout(t);
      reject(new Error(`exited ${c}: ${args.join(' ')}\n${tail()}`));
    });
  });
}
/** ltsp-ts as a user runs it: `ltsp-ts serve` (DHCP only; JSON log lines on stderr, to a file). */
function startLtspTs(logFile) {
  const args = ['node', path.join(here, '..', 'bin', 'ltsp-ts.js'), 'serve', '--no-tftp', '--no-http', '--interface', 'bs0', '--config', path.join(work, 'ltsp.conf'), '--log-level', 'info'];
  return start(args, logFile, logFile, /proxyDHCP on UDP/);
}
async function stop(p) {
  if (p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}
/** utime + stime of the server: `ip netns exec` (and `nice`) exec the server in the same process. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ = 100
}
const DNSMASQ_CONF = `port=0
log-facility=${path.join(work, 'dnsmasq.log')}
dhcp-range=set:proxy,10.77.0.0,proxy,255.255.255.0
${LTSP_DNSMASQ_PXE}`;

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function round(name) {
  const p =
    name === 'ltsp-ts'
      ? await startLtspTs(path.join(work, 'ltsp-ts.log'))
      : await start(['dnsmasq', '--keep-in-foreground', '--no-hosts', '--no-resolv', `--conf-file=${path.join(work, 'dnsmasq.conf')}`, '--interface=bs0', '--bind-interfaces', `--pid-file=${path.join(work, 'dnsmasq.pid')}`], path.join(work, 'dnsmasq.stderr'), path.join(work, 'dnsmasq.pid'), /\d/);
  await sleep(300);
  const res = await loadRound(p.pid, (Number(SECONDS) + Number(WARMUP) + 60) * 1000, '--role', 'load', '--clients', CLIENTS, '--rate', RATE, '--seconds', SECONDS, '--warmup', WARMUP);
  await stop(p);
  rmSync(path.join(work, 'dnsmasq.pid'), { force: true });
  return { ...res, usPerReq: (res.cpu * 1e6) / res.sent };
}

try {
  up();
  writeFileSync(path.join(work, 'dnsmasq.conf'), DNSMASQ_CONF);
  writeFileSync(path.join(work, 'ltsp.conf'), '# empty: LTSP defaults\n');
  const dnsmasqVersion = sh('dnsmasq', '--version').split('\n')[0];
  const loadAtStart = loadAverage();
  const res = { 'ltsp-ts': [], dnsmasq: [] };
  for (let r = 0; r < ROUNDS; r++) for (const n of r % 2 ? ['dnsmasq', 'ltsp-ts'] : ['ltsp-ts', 'dnsmasq']) res[n].push(await round(n));
  const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(`proxyDHCP DISCOVER→OFFER, ${CLIENTS} clients, ${RATE} req/s for ${SECONDS} s after ${WARMUP} s warm-up, ${ROUNDS} rounds each${NICE === undefined ? '' : `, nice ${NICE}`} (node ${process.version}, ${dnsmasqVersion}; load average at the start ${loadAtStart})`);
  console.log('server      round   sent  answered  lost   rate/s   p50 ms   p99 ms   max ms   server cpu s  µs/req');
  for (const [n, rs] of Object.entries(res)) {
    rs.forEach((x, i) => console.log(`${n.padEnd(10)} ${String(i + 1).padStart(5)} ${String(x.sent).padStart(7)} ${String(x.answered).padStart(8)} ${String(x.lost).padStart(5)} ${fmt(x.rate, 0).padStart(8)} ${fmt(x.p50, 3).padStart(8)} ${fmt(x.p99, 3).padStart(8)} ${fmt(x.max, 3).padStart(8)} ${fmt(x.cpu).padStart(13)} ${fmt(x.usPerReq, 1).padStart(7)}`));
  }
  // The median of an even count is the mean of the middle two (2 rounds: their mean).
  const med = (rs, k) => {
    const v = rs.map((x) => x[k]).sort((a, b) => a - b);
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  const a = res['ltsp-ts'];
  const b = res.dnsmasq;
  console.log(`median ltsp-ts vs dnsmasq: cpu ${fmt(med(a, 'usPerReq'), 1)} vs ${fmt(med(b, 'usPerReq'), 1)} µs/req (${fmt(med(a, 'usPerReq') / med(b, 'usPerReq'))}×), p50 ${fmt(med(a, 'p50'), 3)} vs ${fmt(med(b, 'p50'), 3)} ms (${fmt(med(a, 'p50') / med(b, 'p50'))}×), p99 ${fmt(med(a, 'p99'), 3)} vs ${fmt(med(b, 'p99'), 3)} ms (${fmt(med(a, 'p99') / med(b, 'p99'))}×); lost ${a.reduce((s, x) => s + x.lost, 0)} vs ${b.reduce((s, x) => s + x.lost, 0)}; load average at the end ${loadAverage()}`);

  if (Number(FUZZ) > 0) {
    const p = await startLtspTs(path.join(work, 'ltsp-ts-fuzz.log'));
    const out = JSON.parse(inClient(900_000, '--role', 'fuzz', '--count', FUZZ));
    const alive = p.exitCode === null;
    console.log(`fuzz: ${out.sent} mutated packets in ${fmt(out.seconds, 1)} s to ports 67/4011; service ${alive ? 'still running' : 'DIED'}; a real OVMF DISCOVER afterwards ${out.realRequestAnswered ? 'answered correctly' : 'NOT answered'}`);
    await stop(p);
    if (!alive || !out.realRequestAnswered) process.exitCode = 1;
  }
} finally {
  down();
}
