#!/usr/bin/env node
/**
 * bench/storm: a boot storm. N simulated netboot clients at once against `ltsp-ts serve`
 * (proxyDHCP + TFTP + HTTP in one process), side by side in the same run with LTSP's stack
 * today, dnsmasq (proxy DHCP + TFTP, LTSP's `ltsp dnsmasq` config) + nginx (sendfile on)
 * serving the same tree.
 *
 *   npx tsc -p . && sudo node bench/storm.mjs              # 500 clients, 3 rounds (6 runs, ~5 min)
 *   sudo node bench/storm.mjs --quick                      # 50 clients, 1 round (smoke)
 *   sudo node bench/storm.mjs --clients 1000 --rounds 3 --workers 2 --spread-ms 1000
 *
 * Needs root (network namespaces, UDP 67/68/69/4011), dnsmasq and nginx. Topology, made here
 * and removed on exit and on SIGINT/SIGTERM:
 *   lt-st-srv-<id>: st-s0 10.93.0.1/16        ← one server set at a time, on the same address
 *   lt-st-cli-<id>: st-c0 10.93.0.2/16 plus one address per client (10.93.4.1, ...)
 * Server sets, each started fresh per run and stopped after it:
 *   ltsp-ts:       `ltsp-ts serve --interface st-s0 --server-ip 10.93.0.1` (67, 4011, 69, HTTP
 *                  8080), TFTP_MAX_TRANSFERS = N + 50, its info log (a JSON line per packet,
 *                  transfer and request) to a file;
 *   dnsmasq+nginx: dnsmasq with bench/dhcp's LTSP proxy config + `enable-tftp`, `tftp-max`
 *                  = N + 50, its default DHCP and TFTP logging to a file; nginx 8080
 *                  (worker_processes auto, as Debian ships it; sendfile, tcp_nopush, access
 *                  log to a file) serving the same TFTP_DIR, the iPXE script as a static file
 *                  (what ltsp-ts generates for this tree, written once before the runs).
 * Each client (bench/storm-client.mjs, in the client namespace): firmware DHCP (DISCOVER →
 * proxy OFFER, then the boot-server REQUEST on 4011 → ACK; half the clients are OVMF UEFI PXE,
 * half BIOS PXE ROMs answering the option-43 menu), TFTP of the boot file from the ACK
 * (1 MiB, blksize 1432 as iPXE asks), then the iPXE script, a 10 MiB kernel and a 5 MiB
 * initrd over one keep-alive HTTP connection. Clients start evenly over --spread-ms.
 * A step with no packet or byte for 30 s fails (the client stops there); DHCP is re-sent after
 * 1, 2, 4, 8 s. Every run is bounded (--deadline-s, default 600 s).
 * Reported per run: completion time (first start → last client done), failures, p50/p99 per
 * step, server CPU and peak RSS (nginx: master + workers), and the client's own CPU and
 * event-loop delay (to show the load generator was not the bottleneck); then the ratios
 * ltsp-ts / dnsmasq+nginx of the medians over the rounds, and kernel counters (accept-queue
 * overflows, SYN resends, UDP drops) with the script step split into TCP connect and response.
 * --skip tftp (diagnosis, not the target) leaves that step out of every client.
 * --keep-logs DIR keeps the servers' logs; STORM_SERVER_NODE_ARGS / STORM_CLIENT_NODE_ARGS
 * pass node flags (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") to ltsp-ts / the load generator.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, statSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { treeStats } from './proc-stats.mjs';
import { LTSP_DNSMASQ_PXE } from './ltsp-dnsmasq.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');
const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string' },
    rounds: { type: 'string' },
    workers: { type: 'string', default: '2' },
    'spread-ms': { type: 'string', default: '1000' },
    'nginx-workers': { type: 'string', default: 'auto' },
    'deadline-s': { type: 'string', default: '600' },
    only: { type: 'string' },
    // Diagnosis only (not the target): steps the clients leave out, e.g. `--skip tftp` to
    // see how the server sets compare on everything but TFTP.
    skip: { type: 'string' },
    json: { type: 'string' },
    'keep-logs': { type: 'string' },
  },
});
const N = Number(a.clients ?? (a.quick ? 50 : 500));
const ROUNDS = Number(a.rounds ?? (a.quick ? 1 : 3));
const DEADLINE_MS = Number(a['deadline-s']) * 1000;
const MiB = 1 << 20;
const SRV_IP = '10.93.0.1';
const CLI_IP = '10.93.0.2';
const HTTP_PORT = 8080;
const BLKSIZE = 1432;
if (!Number.isInteger(N) || N < 1 || N > 60_000) throw new Error(`--clients: 1..60000, got ${a.clients}`);
if (process.getuid?.() !== 0) {
  console.error('bench/storm needs root (network namespaces, ports 67/68/69/4011)');
  process.exit(1);
}
for (const bin of ['dnsmasq', 'nginx', 'ip', 'curl']) {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
    console.error(`bench/storm needs ${bin}`);
    process.exit(1);
  }
}
if (!existsSync(path.join(repo, 'dist', 'src', 'serve', 'sim-client.js'))) {
  console.error('bench/storm runs against dist/: run `npx tsc -p .` first');
  process.exit(1);
}

/** What is measured, taken at the start (dist/ is shared: others may rebuild it during a run). */
const BUILD = {
  head: spawnSync('git', ['-C', repo, 'log', '-1', '--format=%h %cd', '--date=format:%Y-%m-%d %H:%M'], { encoding: 'utf8' }).stdout.trim(),
  built: new Date(statSync(path.join(repo, 'dist', 'src', 'serve', 'daemon.js')).mtimeMs).toISOString().slice(0, 16),
};

const id = randomBytes(2).toString('hex');
const NS = { srv: `lt-st-srv-${id}`, cli: `lt-st-cli-${id}` };
const work = mkdtempSync(path.join(os.tmpdir(), 'ltsp-ts-bench-storm-'));
const procs = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sh = (cmd, args, input) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000, input });

let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
  if (a['keep-logs']) {
    mkdirSync(a['keep-logs'], { recursive: true });
    for (const f of ['ltsp-ts.out', 'dnsmasq.log', 'nginx-access.log', 'nginx-error.log']) if (existsSync(path.join(work, f))) copyFileSync(path.join(work, f), path.join(a['keep-logs'], f));
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** Client i's address: 10.93.4.1 ... (250 per /24, never .0 or .255). */
const clientIp = (i) => `10.93.${4 + Math.floor(i / 250)}.${1 + (i % 250)}`;

function network() {
  for (const ns of Object.values(NS)) {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  sh('ip', ['link', 'add', 'st-s0', 'netns', NS.srv, 'type', 'veth', 'peer', 'name', 'st-c0', 'netns', NS.cli]);
  sh('ip', ['-n', NS.srv, 'addr', 'add', `${SRV_IP}/16`, 'dev', 'st-s0']);
  sh('ip', ['-n', NS.cli, 'addr', 'add', `${CLI_IP}/16`, 'dev', 'st-c0']);
  const lines = Array.from({ length: N }, (_, i) => `addr add ${clientIp(i)}/16 dev st-c0`).join('\n') + '\n';
  sh('ip', ['-n', NS.cli, '-batch', '-'], lines);
  sh('ip', ['-n', NS.srv, 'link', 'set', 'st-s0', 'up']);
  sh('ip', ['-n', NS.cli, 'link', 'set', 'st-c0', 'up']);
  sh('ip', ['-n', NS.cli, 'route', 'add', 'default', 'dev', 'st-c0']); // lets the clients broadcast to 255.255.255.255
  // One neighbour entry per client on the server side: keep them all (default thresholds start
  // garbage-collecting at 512).
  for (const [k, v] of [['gc_thresh1', N + 1024], ['gc_thresh2', N + 2048], ['gc_thresh3', N + 4096]]) {
    spawnSync('ip', ['netns', 'exec', NS.srv, 'sysctl', '-qw', `net.ipv4.neigh.default.${k}=${v}`], { timeout: 10_000 });
  }
}

/** The served tree: random boot files, kernel and initrd; one image so the menu has an entry. */
async function tree() {
  const tftpDir = path.join(work, 'tftp');
  const baseDir = path.join(work, 'ltsp');
  mkdirSync(path.join(tftpDir, 'ltsp', 'x86_64'), { recursive: true });
  mkdirSync(path.join(baseDir, 'images'), { recursive: true });
  const files = { 'ltsp/undionly.kpxe': MiB, 'ltsp/snponly.efi': MiB, 'ltsp/x86_64/vmlinuz': 10 * MiB, 'ltsp/x86_64/initrd.img': 5 * MiB };
  const expect = {};
  for (const [f, size] of Object.entries(files)) {
    const data = randomBytes(size);
    writeFileSync(path.join(tftpDir, f), data);
    expect[f] = { size, sha: createHash('sha256').update(data).digest('hex') };
  }
  writeFileSync(path.join(baseDir, 'images', 'x86_64.img'), Buffer.alloc(4096));
  // nginx's workers run as nobody, dnsmasq drops to nobody too.
  chmodSync(work, 0o755);
  // The static script for nginx: what ltsp-ts generates for this tree.
  const { loadConfigText } = await import(pathToFileURL(path.join(repo, 'dist', 'src', 'config', 'load.js')).href);
  const { generateIpxeMenu } = await import(pathToFileURL(path.join(repo, 'dist', 'src', 'boot', 'ipxe-menu.js')).href);
  const loaded = loadConfigText('', { overrides: { baseDir, tftpDir, serverIp: SRV_IP, http: { port: HTTP_PORT } } });
  const { script } = await generateIpxeMenu(loaded, {});
  mkdirSync(path.join(work, 'static', 'ltsp'), { recursive: true });
  writeFileSync(path.join(work, 'static', 'ltsp', 'ltsp.ipxe'), script);
  writeFileSync(path.join(work, 'ltsp.conf'), `[server]\nTFTP_MAX_TRANSFERS=${N + 50}\n`);
  return { tftpDir, baseDir, expect };
}

const dnsmasqConf = (tftpDir) => `port=0
log-facility=${path.join(work, 'dnsmasq.log')}
enable-tftp
tftp-root=${tftpDir}
tftp-max=${N + 50}
dhcp-range=set:proxy,10.93.0.0,proxy,255.255.0.0
${LTSP_DNSMASQ_PXE}`;

const nginxConf = (tftpDir) => `worker_processes ${a['nginx-workers']};
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/nginx-error.log;
events { worker_connections ${Math.max(1024, 2 * N + 64)}; }
http {
  access_log ${work}/nginx-access.log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000;
  default_type application/octet-stream;
  client_body_temp_path ${work}/nginx-tmp; proxy_temp_path ${work}/nginx-tmp; fastcgi_temp_path ${work}/nginx-tmp;
  uwsgi_temp_path ${work}/nginx-tmp; scgi_temp_path ${work}/nginx-tmp;
  server {
    listen ${SRV_IP}:${HTTP_PORT};
    root ${tftpDir};
    location = /ltsp/ltsp.ipxe { root ${work}/static; }
  }
}
`;

/** Starts a server process in the server namespace, output to a log file. */
function startInSrv(name, cmd, args) {
  const fd = openSync(path.join(work, `${name}.out`), 'a');
  const p = spawn('ip', ['netns', 'exec', NS.srv, cmd, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  procs.add(p);
  p.on('exit', () => procs.delete(p));
  return p;
}

async function stop(p) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** Bounded poll until the server set answers HTTP (200 for the script) and TFTP (any answer). */
async function waitReady(p, what) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (p.exitCode !== null) throw new Error(`${what} exited (${p.exitCode}): ${readFileSync(path.join(work, `${what}.out`), 'utf8').slice(-2000)}`);
    const h = spawnSync('ip', ['netns', 'exec', NS.srv, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${SRV_IP}:${HTTP_PORT}/ltsp/ltsp.ipxe`], { encoding: 'utf8', timeout: 10_000 });
    const t = spawnSync('ip', ['netns', 'exec', NS.srv, 'curl', '-s', '-o', '/dev/null', '--max-time', '2', `tftp://${SRV_IP}/__probe__`], { timeout: 10_000 });
    const dhcpUp = what === 'ltsp-ts' ? /"msg":"serving"/.test(readFileSync(path.join(work, `${what}.out`), 'utf8')) : existsSync(path.join(work, 'dnsmasq.pid'));
    if (h.stdout === '200' && (t.status === 68 || t.status === 0) && dhcpUp) return;
    await sleep(200);
  }
  throw new Error(`${what}: not ready within 30 s`);
}

async function startSet(name, t) {
  if (name === 'ltsp-ts') {
    // STORM_SERVER_NODE_ARGS: node flags for ltsp-ts only (e.g. --cpu-prof while investigating).
    const nodeArgs = (process.env.STORM_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const p = startInSrv('ltsp-ts', process.execPath, [
      ...nodeArgs,
      path.join(repo, 'bin', 'ltsp-ts.js'), 'serve', '--interface', 'st-s0', '--server-ip', SRV_IP, '--http-port', String(HTTP_PORT),
      '--tftp-dir', t.tftpDir, '--base-dir', t.baseDir, '--config', path.join(work, 'ltsp.conf'), '--log-level', 'info',
    ]);
    await waitReady(p, 'ltsp-ts');
    return { procs: [p], pids: () => [p.pid] };
  }
  rmSync(path.join(work, 'dnsmasq.pid'), { force: true });
  mkdirSync(path.join(work, 'nginx-tmp'), { recursive: true });
  writeFileSync(path.join(work, 'dnsmasq.conf'), dnsmasqConf(t.tftpDir));
  writeFileSync(path.join(work, 'nginx.conf'), nginxConf(t.tftpDir));
  const ngx = startInSrv('nginx', 'nginx', ['-c', path.join(work, 'nginx.conf'), '-p', work]);
  const dns = startInSrv('dnsmasq', 'dnsmasq', ['--keep-in-foreground', '--no-hosts', '--no-resolv', `--conf-file=${path.join(work, 'dnsmasq.conf')}`, '--interface=st-s0', '--bind-interfaces', `--pid-file=${path.join(work, 'dnsmasq.pid')}`]);
  await waitReady(dns, 'dnsmasq');
  if (ngx.exitCode !== null) throw new Error(`nginx exited: ${readFileSync(path.join(work, 'nginx.out'), 'utf8')}`);
  return { procs: [dns, ngx], pids: () => [dns.pid, ngx.pid] };
}

/** Runs the load generator in the client namespace; resolves with its JSON report. */
function runClients(t) {
  const opts = {
    clients: N,
    workers: Number(a.workers),
    spreadMs: Number(a['spread-ms']),
    dhcpRetryMs: 1000,
    dhcpTries: 4,
    idleTimeoutMs: 30_000,
    httpTimeoutMs: 300_000,
    deadlineMs: DEADLINE_MS,
    sampleEvery: 25,
    skip: (a.skip ?? '').split(',').filter(Boolean),
    blksize: BLKSIZE,
    httpPort: HTTP_PORT,
    xidBase: randomBytes(4).readUInt32BE(0),
    ips: Array.from({ length: N }, (_, i) => clientIp(i)),
    expect: t.expect,
  };
  return new Promise((resolve, reject) => {
    const nodeArgs = (process.env.STORM_CLIENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const p = spawn('ip', ['netns', 'exec', NS.cli, process.execPath, ...nodeArgs, path.join(here, 'storm-client.mjs'), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.add(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), DEADLINE_MS + 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      procs.delete(p);
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`storm client exited ${code}: ${err.slice(-3000)}`));
      }
    });
  });
}

/** Kernel counters of a namespace (/proc/net/netstat and snmp: 'TcpExt:' / 'Udp:' header and value lines). */
function netCounters(ns) {
  const out = {};
  for (const f of ['/proc/net/netstat', '/proc/net/snmp']) {
    const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', f], { encoding: 'utf8', timeout: 10_000 });
    const lines = (r.stdout ?? '').trim().split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [k1, ...names] = lines[i].split(/\s+/);
      const vals = lines[i + 1].split(/\s+/).slice(1);
      names.forEach((n, j) => (out[`${k1}${n}`] = Number(vals[j])));
    }
  }
  return out;
}
/** What went wrong in the kernel during a run: accept-queue overflows, SYN resends, UDP buffer drops. */
const NET_KEYS = {
  listenOverflows: ['srv', 'TcpExt:ListenOverflows'],
  synRetrans: ['cli', 'TcpExt:TCPSynRetrans'],
  srvRetrans: ['srv', 'Tcp:RetransSegs'],
  cliRetrans: ['cli', 'Tcp:RetransSegs'],
  srvTcpTimeouts: ['srv', 'TcpExt:TCPTimeouts'],
  cliTcpTimeouts: ['cli', 'TcpExt:TCPTimeouts'],
  srvUdpDrops: ['srv', 'Udp:RcvbufErrors'],
  cliUdpDrops: ['cli', 'Udp:RcvbufErrors'],
};
const netSnapshot = () => ({ srv: netCounters(NS.srv), cli: netCounters(NS.cli) });
const netDelta = (b, e) => Object.fromEntries(Object.entries(NET_KEYS).map(([k, [side, key]]) => [k, (e[side][key] ?? 0) - (b[side][key] ?? 0)]));

const STEPS = ['dhcp', 'tftp', 'script', 'kernel', 'initrd'];
const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const median = (xs) => pct(xs, 50);

async function run(name, t) {
  const set = await startSet(name, t);
  await sleep(300);
  const before = set.pids().map((p) => treeStats(p).cpu);
  const load = os.loadavg()[0];
  const net0 = netSnapshot();
  const rep = await runClients(t);
  const after = set.pids().map((p) => treeStats(p));
  // What ltsp-ts really ran with (dist/ is shared and may be rebuilt between runs).
  const tftpLine = name === 'ltsp-ts' ? /"workers":(\d+)[^\n]*tftp: serving/.exec(readFileSync(path.join(work, 'ltsp-ts.out'), 'utf8').split('\n').reverse().join('\n')) : null;
  const net = netDelta(net0, netSnapshot());
  for (const p of set.procs) await stop(p);
  const rs = rep.results;
  const ok = rs.filter((r) => !r.failed);
  const failed = rs.filter((r) => r.failed);
  const starts = rs.map((r) => r.startAt).filter(Number.isFinite);
  const ends = rs.map((r) => r.endAt).filter(Number.isFinite);
  const steps = Object.fromEntries([...STEPS, 'scriptConnect', 'scriptHead'].map((s) => [s, rs.map((r) => r.steps?.[s]).filter(Number.isFinite)]));
  return {
    name,
    clients: rs.length,
    completed: ok.length,
    failed: failed.length,
    failures: Object.entries(failed.reduce((m, r) => ((m[`${r.failed}: ${r.error}`] = (m[`${r.failed}: ${r.error}`] ?? 0) + 1), m), {})),
    totalS: (Math.max(...ends) - Math.min(...starts)) / 1000,
    bootP50: median(ok.map((r) => r.endAt - r.startAt)) / 1000,
    bootP99: pct(ok.map((r) => r.endAt - r.startAt), 99) / 1000,
    dhcpRetries: rs.reduce((s, r) => s + Math.max(0, (r.dhcpTries ?? 2) - 2), 0),
    p50: Object.fromEntries(Object.keys(steps).map((s) => [s, median(steps[s])])),
    p99: Object.fromEntries(Object.keys(steps).map((s) => [s, pct(steps[s], 99)])),
    serverCpu: after.reduce((s, x) => s + x.cpu, 0) - before.reduce((s, x) => s + x, 0),
    serverRssMiB: after.reduce((s, x) => s + x.rssMiB, 0),
    clientCpu: rep.clientCpuSeconds,
    tftpWorkers: tftpLine ? Number(tftpLine[1]) : undefined,
    net,
    ...(a.json ? { raw: rs } : {}),
    eld: rep.eld,
    load,
  };
}

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function report(runs) {
  const nodeV = process.version;
  const dnsV = sh('dnsmasq', ['--version']).split('\n')[0].replace(/\s+Copyright.*/, '');
  const ngxV = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '');
  const cpus = os.cpus().length;
  console.log(`bench/storm: ${N} clients (${Math.ceil(N / 2)} OVMF UEFI PXE + ${Math.floor(N / 2)} BIOS PXE ROM), started over ${a['spread-ms']} ms, ${ROUNDS} round(s), in network namespaces (veth)`);
  console.log(`each: DISCOVER→OFFER + REQUEST 4011→ACK, TFTP ${1} MiB blksize ${BLKSIZE}, HTTP script + ${10} MiB kernel + ${5} MiB initrd on one keep-alive connection`);
  console.log(`node ${nodeV}, ${dnsV}, ${ngxV} (worker_processes ${a['nginx-workers']}), ${cpus} CPUs, client: ${a.workers} worker threads`);
  const tw = [...new Set(runs.filter((r) => r.name === 'ltsp-ts').map((r) => r.tftpWorkers ?? 'in-process'))].join('/');
  console.log(`ltsp-ts: checkout ${BUILD.head}, dist/ built ${BUILD.built}Z (at the start), TFTP transfer worker threads: ${tw}`);
  console.log('');
  const cols = ['server set', 'load', 'done', 'failed', 'total s', 'boot p50 s', 'boot p99 s', 'DHCP p50/p99 ms', 'TFTP p50/p99 ms', 'script p99 ms', 'kernel p50/p99 ms', 'initrd p50/p99 ms', 'DHCP resends', 'server CPU s', 'server RSS MiB', 'client CPU s', 'client ELD p99 ms'];
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`|${cols.map(() => '---').join('|')}|`);
  for (const r of runs) {
    const eld = Math.max(r.eld.main.p99, ...r.eld.workers.map((w) => w.p99));
    console.log(
      `| ${[
        r.name, fmt(r.load, 1), r.completed, r.failed, fmt(r.totalS, 1), fmt(r.bootP50, 1), fmt(r.bootP99, 1),
        `${fmt(r.p50.dhcp, 1)} / ${fmt(r.p99.dhcp, 1)}`, `${fmt(r.p50.tftp)} / ${fmt(r.p99.tftp)}`, fmt(r.p99.script, 1),
        `${fmt(r.p50.kernel)} / ${fmt(r.p99.kernel)}`, `${fmt(r.p50.initrd)} / ${fmt(r.p99.initrd)}`, r.dhcpRetries,
        fmt(r.serverCpu, 1), fmt(r.serverRssMiB), fmt(r.clientCpu, 1), fmt(eld, 1),
      ].join(' | ')} |`,
    );
  }
  for (const r of runs) for (const [msg, n] of r.failures.slice(0, 5)) console.log(`  ${r.name}: ${n} × ${msg}`);
  console.log('');
  console.log('kernel counters per run (accept-queue overflows at the server, SYNs the clients re-sent, TCP retransmissions and RTO expiries, UDP datagrams dropped for a full socket buffer):');
  for (const r of runs) console.log(`  ${r.name.padEnd(14)} listen overflows ${r.net.listenOverflows}, SYN resends ${r.net.synRetrans}, TCP segments resent server ${r.net.srvRetrans} / client ${r.net.cliRetrans}, RTO timeouts ${r.net.srvTcpTimeouts} / ${r.net.cliTcpTimeouts}, UDP drops server ${r.net.srvUdpDrops} / client ${r.net.cliUdpDrops}; script p99: TCP connect ${fmt(r.p99.scriptConnect, 1)} ms, response headers ${fmt(r.p99.scriptHead, 1)} ms`);
  const by = (n) => runs.filter((r) => r.name === n);
  const A = by('ltsp-ts');
  const B = by('dnsmasq+nginx');
  if (A.length && B.length) {
    const m = (rs, f) => median(rs.map(f));
    const ratio = (f) => fmt(m(A, f) / m(B, f), 2);
    console.log('');
    console.log(
      `ratio ltsp-ts / dnsmasq+nginx (medians over the rounds): total time ${ratio((r) => r.totalS)}×, boot p99 ${ratio((r) => r.bootP99)}×, ` +
        `p99 DHCP ${ratio((r) => r.p99.dhcp)}×, TFTP ${ratio((r) => r.p99.tftp)}×, script ${ratio((r) => r.p99.script)}×, kernel ${ratio((r) => r.p99.kernel)}×, initrd ${ratio((r) => r.p99.initrd)}×; ` +
        `server CPU ${ratio((r) => r.serverCpu)}×; failures ${A.reduce((s, r) => s + r.failed, 0)} vs ${B.reduce((s, r) => s + r.failed, 0)}`,
    );
    const ok = A.every((r) => r.failed === 0) && m(A, (r) => r.totalS) <= m(B, (r) => r.totalS);
    if (a.skip) console.log(`diagnostic run, clients skipped: ${a.skip} (the target is judged on full boots only)`);
    else console.log(`target (all complete, total time ≤ dnsmasq+nginx): ${ok ? 'met' : 'NOT met'}`);
  }
}

try {
  network();
  const t = await tree();
  const names = a.only ? [a.only] : ['ltsp-ts', 'dnsmasq+nginx'];
  const runs = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of r % 2 ? [...names].reverse() : names) {
      process.stderr.write(`round ${r + 1}/${ROUNDS}: ${n}, ${N} clients ... `);
      const res = await run(n, t);
      process.stderr.write(`${res.completed}/${res.clients} in ${fmt(res.totalS, 1)} s\n`);
      runs.push(res);
    }
  }
  report(runs);
  if (a.json) writeFileSync(a.json, JSON.stringify(runs, null, 1));
  if (runs.some((r) => r.failed > 0)) process.exitCode = 1;
} finally {
  cleanup();
}
