#!/usr/bin/env node
/**
 * bench/dhcp-full: full DHCP mode, ltsp-ts side by side with dnsmasq in one run.
 *
 *   npx tsc -p . && sudo node bench/dhcp-full.mjs            # 1000 clients, 5 rounds
 *   sudo node bench/dhcp-full.mjs --clients 1000 --rounds 3 --concurrency 64 --rate 400
 *   sudo node bench/dhcp-full.mjs --lease-dir /dev/shm   # lease files on tmpfs: no disk in the way
 *   sudo node bench/dhcp-full.mjs --log-dir /dev/shm     # both servers' logs on tmpfs (leases stay on disk)
 *   sudo node bench/dhcp-full.mjs --runs paced --wire    # + per run, timings at the client's NIC (tcpdump):
 *        the server's part (DISCOVER→OFFER, REQUEST→ACK) apart from the simulator's (bench/dhcp-full-wire.mjs)
 *   sudo node bench/dhcp-full.mjs --server-nice=-10       # both servers at a higher priority: how much of a
 *        tail is other work on the machine (here: paced p99 4.7 -> 3.7-4.2 ms ltsp-ts, 9-11 -> 3.6-14 ms dnsmasq)
 *   sudo KEEP_LOGS=1 node bench/dhcp-full.mjs --log-dir DIR --server-node-args=--trace-gc
 *        keep both servers' logs, ltsp-ts's stdout and the captures in DIR
 *
 * Needs root (network namespaces). Topology, made here and removed at the end:
 *   lt-fd-bench-<id>-srv: lan0 10.97.0.1/16   ← the DHCP server under test (one at a time)
 *   lt-fd-bench-<id>-cli: eth0 10.97.0.2/16   ← bench/dhcp-full-sim.mjs (N simulated clients)
 * Both servers get the same pool (10.97.1.0-10.97.8.255, 12 h), start from an empty lease
 * file on the same disk, and log each transaction to a file: ltsp-ts at info (one JSON line
 * per packet on stderr, sent to a file; its journal durable before every ACK), dnsmasq with
 * its default DHCP logging (--log-facility), --no-ping (ltsp-ts does not ping either),
 * --dhcp-authoritative.
 * Clients set the broadcast flag, so both answer by broadcast.
 *
 * Per round, alternating which server goes first, two runs each:
 *   max:    N clients, C DORAs in flight (closed loop): DORA/s, p50, p99;
 *   paced:  N clients arriving at R per second (open loop): p50, p99 latency at that load.
 * Prints medians and the ratios ltsp-ts/dnsmasq. One DORA = DISCOVER→OFFER + REQUEST→ACK,
 * timed at the client. The machine is shared and small (2 cores): read the ratios.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string', default: '400' },
    'lease-dir': { type: 'string' },
    // Where both servers' logs go (default: beside the lease files).
    'log-dir': { type: 'string' },
    // Quicker iterations: only some servers / runs (default: both, both).
    servers: { type: 'string', default: 'ltsp-ts,dnsmasq' },
    runs: { type: 'string', default: 'max,paced' },
    // ltsp-ts's journal commits: auto (default), loop or pool (lease-journal.ts).
    'commit-on': { type: 'string' },
    // Capture the client's NIC during paced runs (tcpdump) and print wire timings per run:
    // what the server took (DISCOVER→OFFER + REQUEST→ACK at the NIC) apart from the simulator's own delays.
    wire: { type: 'boolean', default: false },
    // ltsp-ts's synthetic DORAs before serving (createFullDhcp warmUp; default its own).
    'warm-up': { type: 'string' },
    // Both servers under `nice -n N` (same priority for both; default: the bench's own).
    'server-nice': { type: 'string' },
    // Extra node flags for ltsp-ts's server (--trace-gc, --cpu-prof ...), space-separated.
    'server-node-args': { type: 'string', default: '' },
  },
});
const N = Number(values.clients);
const ROUNDS = Number(values.rounds);
if (process.getuid?.() !== 0) {
  console.error('bench/dhcp-full: needs root (network namespaces)');
  process.exit(1);
}

const id = randomBytes(2).toString('hex');
const SRV = `lt-fd-bench-${id}-srv`;
const CLI = `lt-fd-bench-${id}-cli`;
const sh = (cmd, args, input) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 30_000, input });
// Lease files on the real disk (fsync costs what it costs there), not tmpfs.
const dir = mkdtempSync(path.join(values['lease-dir'] ?? (existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir()), 'ltsp-ts-bench-dhcp-'));
const logDir = values['log-dir'] ? mkdtempSync(path.join(values['log-dir'], 'ltsp-ts-bench-dhcp-log-')) : dir;
const procs = new Set();

function cleanup() {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const ns of [SRV, CLI]) {
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
  if (process.env.KEEP_LOGS) console.error(`kept ${logDir}`);
  else rmSync(logDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

sh('ip', ['netns', 'add', SRV]);
sh('ip', ['netns', 'add', CLI]);
sh('ip', ['link', 'add', 'lan0', 'netns', SRV, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLI]);
sh('ip', ['-n', SRV, 'addr', 'add', '10.97.0.1/16', 'dev', 'lan0']);
sh('ip', ['-n', CLI, 'addr', 'add', '10.97.0.2/16', 'dev', 'eth0']);
for (const [ns, dev] of [[SRV, 'lan0'], [CLI, 'eth0'], [SRV, 'lo'], [CLI, 'lo']]) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
sh('ip', ['-n', CLI, 'route', 'add', 'default', 'dev', 'eth0']);

/** errFile: stderr (the server's log) straight to a file, as dnsmasq's --log-facility: no pipe to drain here. */
function start(ns, cmd, args, errFile, nice) {
  if (nice !== undefined) [cmd, args] = ['nice', ['-n', nice, cmd, ...args]];
  const errFd = errFile ? openSync(errFile, 'w') : undefined;
  const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', errFd ?? 'pipe'] });
  if (errFd !== undefined) closeSync(errFd);
  procs.add(p);
  p.out = '';
  p.err = '';
  p.stdout.on('data', (d) => (p.out += d));
  if (errFile) Object.defineProperty(p, 'err', { get: () => readFileSync(errFile, 'utf8') });
  else p.stderr.on('data', (d) => (p.err += d));
  return p;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function stop(p) {
  if (p.exitCode !== null) return;
  p.kill('SIGTERM');
  for (let i = 0; i < 50 && p.exitCode === null; i++) await sleep(100);
  if (p.exitCode === null) p.kill('SIGKILL');
  procs.delete(p);
}

const POOL = ['10.97.1.0', '10.97.8.255'];
const servers = {
  'ltsp-ts': async (round) => {
    const conf = path.join(dir, 'ltsp.conf');
    writeFileSync(conf, `[server]\nDHCP_RANGE=${POOL[0]},${POOL[1]},12h\n`);
    const p = start(SRV, process.execPath, [...values['server-node-args'].split(' ').filter(Boolean), path.join(here, 'dhcp-full-server.mjs'), '--config', conf, '--lease-file', path.join(dir, `ltsp-ts-${round}.journal`), '--log-level', 'info', ...(values['commit-on'] ? ['--commit-on', values['commit-on']] : []), ...(values['warm-up'] ? ['--warm-up', values['warm-up']] : [])], path.join(logDir, `ltsp-ts-${round}.log`), values['server-nice']);
    for (let i = 0; i < 100 && !p.out.includes('"ready"'); i++) {
      if (p.exitCode !== null) throw new Error(`ltsp-ts exited: ${p.err}`);
      await sleep(50);
    }
    return p;
  },
  dnsmasq: async (round) => {
    const p = start(SRV, 'dnsmasq', [
      '--keep-in-foreground', '--conf-file=/dev/null', '--no-hosts', '--no-resolv', '--port=0', '--interface=lan0', '--bind-interfaces',
      `--dhcp-range=${POOL[0]},${POOL[1]},255.255.0.0,12h`, `--dhcp-leasefile=${path.join(dir, `dnsmasq-${round}.leases`)}`,
      '--dhcp-authoritative', '--no-ping', `--dhcp-lease-max=${N * 4}`, `--log-facility=${path.join(logDir, `dnsmasq-${round}.log`)}`, `--pid-file=${path.join(dir, `dnsmasq-${round}.pid`)}`,
    ], undefined, values['server-nice']);
    await sleep(500);
    if (p.exitCode !== null) throw new Error(`dnsmasq exited: ${p.err}`);
    return p;
  },
};

/** tcpdump on the client's NIC while fn runs; returns fn's result with the wire timings (bench/dhcp-full-wire.mjs). */
async function withWire(name, round, fn) {
  if (!values.wire) return fn();
  const file = path.join(logDir, `wire-${name}-${round}.pcap`);
  const p = start(CLI, 'tcpdump', ['-i', 'eth0', '-n', '-s', '400', '-B', '16384', '--time-stamp-precision=nano', '-w', file, 'udp']);
  for (let i = 0; i < 50 && !p.err.includes('listening'); i++) await sleep(50);
  const r = await fn();
  await sleep(100);
  p.kill('SIGINT');
  for (let i = 0; i < 50 && p.exitCode === null; i++) await sleep(50);
  procs.delete(p);
  r.wire = JSON.parse(execFileSync(process.execPath, [path.join(here, 'dhcp-full-wire.mjs'), file], { encoding: 'utf8' }));
  return r;
}

async function sim(args) {
  const p = start(CLI, process.execPath, [path.join(here, 'dhcp-full-sim.mjs'), 'dora', '--clients', String(N), ...args]);
  for (let i = 0; i < 1200 && p.exitCode === null; i++) await sleep(100);
  if (p.exitCode !== 0) throw new Error(`simulator failed: ${p.err}`);
  procs.delete(p);
  return JSON.parse(p.out.trim());
}

const results = { 'ltsp-ts': { max: [], paced: [] }, dnsmasq: { max: [], paced: [] } };
for (let round = 0; round < ROUNDS; round++) {
  const order = (round % 2 ? ['dnsmasq', 'ltsp-ts'] : ['ltsp-ts', 'dnsmasq']).filter((n) => values.servers.split(',').includes(n));
  const runs = values.runs.split(',');
  const none = { rate: NaN, p50: NaN, p99: NaN, completed: 0, failed: 0 };
  for (const name of order) {
    const server = await servers[name](round);
    // Distinct MACs per run, so every DORA is a new client for the server.
    const max = runs.includes('max') ? await sim(['--concurrency', values.concurrency, '--mac-prefix', `02:${(round * 4 + 0).toString(16).padStart(2, '0')}`]) : none;
    const paced = runs.includes('paced') ? await withWire(name, round, () => sim(['--rate', values.rate, '--mac-prefix', `02:${(round * 4 + 1).toString(16).padStart(2, '0')}`])) : none;
    await stop(server);
    if (process.env.KEEP_LOGS) writeFileSync(path.join(logDir, `${name}-${round}.stdout`), server.out);
    results[name].max.push(max);
    results[name].paced.push(paced);
    console.log(`round ${round + 1} ${name.padEnd(8)} load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} max: ${max.rate} DORA/s p50 ${max.p50} ms p99 ${max.p99} ms (${max.completed}/${N}, ${max.failed} failed) | paced ${values.rate}/s: p50 ${paced.p50} ms p99 ${paced.p99} ms (${paced.completed}/${N}, ${paced.failed} failed)`);
    if (paced.wire) console.log(`  wire (${name}): ${JSON.stringify(paced.wire)}`);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const row = (name) => {
  const r = results[name];
  return {
    rate: median(r.max.map((x) => x.rate)),
    maxP99: median(r.max.map((x) => x.p99)),
    pacedP50: median(r.paced.map((x) => x.p50)),
    pacedP99: median(r.paced.map((x) => x.p99)),
    failed: [...r.max, ...r.paced].reduce((n, x) => n + x.failed, 0),
  };
};
const a = row('ltsp-ts');
const b = row('dnsmasq');
console.log(`\nmedians over ${ROUNDS} rounds, ${N} clients, ${values.concurrency} in flight (max) / ${values.rate} new clients per s (paced):`);
console.log(`server    DORA/s   p99 max   p50 paced  p99 paced  failed`);
for (const [n, r] of [['ltsp-ts', a], ['dnsmasq', b]]) console.log(`${n.padEnd(8)} ${String(r.rate).padStart(7)}  ${r.maxP99.toFixed(2).padStart(7)}ms  ${r.pacedP50.toFixed(2).padStart(7)}ms  ${r.pacedP99.toFixed(2).padStart(7)}ms  ${String(r.failed).padStart(6)}`);
console.log(`ratio ltsp-ts/dnsmasq: rate ${(a.rate / b.rate).toFixed(2)}x (target >= 1.0), paced p99 ${a.pacedP99.toFixed(2)} ms (target < 5 ms)`);
