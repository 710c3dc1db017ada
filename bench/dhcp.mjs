#!/usr/bin/env node
/**
 * bench/dhcp: proxyDHCP DISCOVER → OFFER rate and latency, ltsp-ts side by side with
 * dnsmasq in proxy mode (LTSP's `ltsp dnsmasq` config) in one run, then a fuzz run.
 *
 *   npx tsc -p . && node bench/dhcp.mjs                 # 500 clients, 1000 req/s, 10 s each, 10^6 fuzz packets
 *   node bench/dhcp.mjs --seconds 5 --fuzz 100000       # shorter
 *
 * Needs root (network namespaces) and dnsmasq. Two namespaces joined by a veth pair
 * (lt-dh-bench-*): the server side 10.77.0.1/24, the client side 10.77.0.2/24. The servers
 * take turns on UDP 67/4011 in the server namespace (alternating, --rounds each); the load
 * generator in the client namespace broadcasts DISCOVERs of 500 distinct simulated clients
 * (BIOS PXE, OVMF and iPXE packets from protocols/dhcp/client-packets, distinct MAC and xid)
 * at the given rate to 255.255.255.255:67 and times each until its proxy OFFER arrives on
 * port 68 (1 s timeout = lost), after a 2 s warm-up at the same rate. Both servers log every packet to a file (dnsmasq's default
 * DHCP logging, ltsp-ts at info level).
 *
 * Fuzz: 10^6 packets, each a captured or simulated client packet with 1–4 random byte
 * mutations/truncations, sent as fast as the socket takes them to ltsp-ts's port 67 and
 * 4011; then the service must still be running and answer a real OVMF DISCOVER with the
 * right OFFER.
 */
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

// ---------------------------------------------------------------- child: ltsp-ts service
if (arg('--role') === 'server') {
  const { startDhcpService } = await import(path.join(dist, 'src', 'dhcp', 'service.js'));
  const { loadConfigText } = await import(path.join(dist, 'src', 'config', 'load.js'));
  const { pino } = await import('pino');
  const log = pino({ level: 'info', base: undefined }, pino.destination({ dest: arg('--log'), sync: false }));
  const loaded = loadConfigText('', { overrides: { interfaces: ['bs0'] } });
  const svc = await startDhcpService({ loaded, log });
  process.stdout.write(`READY ${JSON.stringify(svc.ports)}\n`);
  process.on('SIGTERM', () => svc.close().then(() => process.exit(0)));
  await new Promise(() => {});
}

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
const ns = { s: `lt-dh-bench-${process.pid}-s`, c: `lt-dh-bench-${process.pid}-c` };
const work = mkdtempSync(path.join(tmpdir(), 'ltsp-ts-bench-dhcp-'));
const procs = [];
const sh = (...a) => execFileSync(a[0], a.slice(1), { encoding: 'utf8', timeout: 30_000 });
/** Runs a child role in the client namespace (bounded: --seconds + 60 s, fuzz 15 min). */
const inClient = (timeout, ...a) => execFileSync('ip', ['netns', 'exec', ns.c, 'node', self, ...a], { encoding: 'utf8', timeout });
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

function start(args, ready) {
  const p = spawn('ip', ['netns', 'exec', ns.s, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not ready: ${args.join(' ')}\n${out}`)), 15_000);
    const on = (b) => {
      out += b;
      if (ready.test(out)) {
        clearTimeout(t);
        resolve(p);
      }
    };
    p.stdout.on('data', on);
    p.stderr.on('data', on);
    p.on('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
    // dnsmasq logs to its file: ready once its pid file exists.
    const pidFile = path.join(work, 'dnsmasq.pid');
    if (args[0] === 'dnsmasq') {
      const poll = setInterval(() => {
        try {
          readFileSync(pidFile);
          clearInterval(poll);
          clearTimeout(t);
          resolve(p);
        } catch {}
      }, 50);
      setTimeout(() => clearInterval(poll), 15_000);
    }
  });
}
async function stop(p) {
  if (p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, USER_HZ = 100
}
const DNSMASQ_CONF = `port=0
log-facility=${path.join(work, 'dnsmasq.log')}
dhcp-range=set:proxy,10.77.0.0,proxy,255.255.255.0
dhcp-match=set:X86PC,option:client-arch,0
dhcp-match=set:X86-64_EFI,option:client-arch,7
dhcp-match=set:X86-64_EFI,option:client-arch,9
dhcp-match=set:ipxe-http,175,19
dhcp-match=set:ipxe-menu,175,39
dhcp-match=set:ipxe-pxe,175,33
dhcp-match=set:ipxe-bzimage,175,24
dhcp-match=set:ipxe-efi,175,36
tag-if=set:ipxe,tag:ipxe-http,tag:ipxe-menu,tag:ipxe-pxe,tag:ipxe-bzimage
tag-if=set:ipxe,tag:ipxe-http,tag:ipxe-menu,tag:ipxe-efi
pxe-service=tag:proxy,tag:!ipxe,X86PC,"undionly.kpxe",ltsp/undionly.kpxe
pxe-service=tag:proxy,tag:!ipxe,X86-64_EFI,"snponly.efi",ltsp/snponly.efi
pxe-service=tag:proxy,tag:ipxe,X86PC,"ltsp.ipxe",ltsp/ltsp.ipxe
pxe-service=tag:proxy,tag:ipxe,X86-64_EFI,"ltsp.ipxe",ltsp/ltsp.ipxe
dhcp-boot=tag:!ipxe,tag:X86PC,ltsp/undionly.kpxe
dhcp-boot=tag:!ipxe,tag:X86-64_EFI,ltsp/snponly.efi
dhcp-boot=tag:ipxe,ltsp/ltsp.ipxe
`;

async function round(name) {
  const p =
    name === 'ltsp-ts'
      ? await start(['node', self, '--role', 'server', '--log', path.join(work, 'ltsp-ts.log')], /READY/)
      : await start(['dnsmasq', '--keep-in-foreground', '--no-hosts', '--no-resolv', `--conf-file=${path.join(work, 'dnsmasq.conf')}`, '--interface=bs0', '--bind-interfaces', `--pid-file=${path.join(work, 'dnsmasq.pid')}`], /$^/);
  await sleep(300);
  const cpu0 = cpuSeconds(p.pid);
  const out = inClient((Number(SECONDS) + Number(WARMUP) + 60) * 1000, '--role', 'load', '--clients', CLIENTS, '--rate', RATE, '--seconds', SECONDS, '--warmup', WARMUP);
  const cpu = cpuSeconds(p.pid) - cpu0;
  await stop(p);
  rmSync(path.join(work, 'dnsmasq.pid'), { force: true });
  return { ...JSON.parse(out), cpu };
}

try {
  up();
  writeFileSync(path.join(work, 'dnsmasq.conf'), DNSMASQ_CONF);
  const dnsmasqVersion = sh('dnsmasq', '--version').split('\n')[0];
  const res = { 'ltsp-ts': [], dnsmasq: [] };
  for (let r = 0; r < ROUNDS; r++) for (const n of r % 2 ? ['dnsmasq', 'ltsp-ts'] : ['ltsp-ts', 'dnsmasq']) res[n].push(await round(n));
  const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(`proxyDHCP DISCOVER→OFFER, ${CLIENTS} clients, ${RATE} req/s for ${SECONDS} s after ${WARMUP} s warm-up, ${ROUNDS} rounds each (node ${process.version}, ${dnsmasqVersion})`);
  console.log('server      round   sent  answered  lost   rate/s   p50 ms   p99 ms   max ms   cpu s (server, incl. warm-up)');
  for (const [n, rs] of Object.entries(res)) {
    rs.forEach((x, i) => console.log(`${n.padEnd(10)} ${String(i + 1).padStart(5)} ${String(x.sent).padStart(7)} ${String(x.answered).padStart(8)} ${String(x.lost).padStart(5)} ${fmt(x.rate, 0).padStart(8)} ${fmt(x.p50, 3).padStart(8)} ${fmt(x.p99, 3).padStart(8)} ${fmt(x.max, 3).padStart(8)} ${fmt(x.cpu).padStart(7)}`));
  }
  const med = (rs, k) => rs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(rs.length / 2)];
  const a = res['ltsp-ts'];
  const b = res.dnsmasq;
  console.log(`ratio ltsp-ts/dnsmasq (median): p50 ${fmt(med(a, 'p50') / med(b, 'p50'))}×, p99 ${fmt(med(a, 'p99') / med(b, 'p99'))}×, cpu ${fmt(med(a, 'cpu') / med(b, 'cpu'))}×; lost ${a.reduce((s, x) => s + x.lost, 0)} vs ${b.reduce((s, x) => s + x.lost, 0)}`);

  if (Number(FUZZ) > 0) {
    const p = await start(['node', self, '--role', 'server', '--log', path.join(work, 'ltsp-ts-fuzz.log')], /READY/);
    const out = JSON.parse(inClient(900_000, '--role', 'fuzz', '--count', FUZZ));
    const alive = p.exitCode === null;
    console.log(`fuzz: ${out.sent} mutated packets in ${fmt(out.seconds, 1)} s to ports 67/4011; service ${alive ? 'still running' : 'DIED'}; a real OVMF DISCOVER afterwards ${out.realRequestAnswered ? 'answered correctly' : 'NOT answered'}`);
    await stop(p);
    if (!alive || !out.realRequestAnswered) process.exitCode = 1;
  }
} finally {
  down();
}
