#!/usr/bin/env node
/**
 * Simulated DHCP clients for full-mode tests and bench/dhcp-full.mjs. Runs inside a client
 * network namespace: one UDP socket on 0.0.0.0:68 speaks for many clients (distinct MACs,
 * replies matched by xid), requests carry the broadcast flag so any server broadcasts back.
 *
 *   node bench/dhcp-full-sim.mjs dora  --clients 1000 (--concurrency 50 | --rate 500) [--timeout-ms 500]
 *       one DISCOVER/OFFER/REQUEST/ACK per client, closed loop (N in flight) or open loop
 *       (new clients at a fixed rate per second); prints {"completed","failed","seconds",
 *       "rate","p50","p99","retries"} (latency of one whole DORA in ms).
 *   node bench/dhcp-full-sim.mjs churn --clients 200 --seconds 30 --out events.jsonl
 *       each client loops: DORA, a few RENEWs (unicast to the server id, ciaddr set), then
 *       sometimes RELEASE and a new identity; a NAK or a timeout starts over with DORA.
 *       Every ACK and RELEASE goes to --out (one JSON line each) for the crash test's checks.
 *   node bench/dhcp-full-sim.mjs inform --target SERVER --ciaddr OWN
 *       one unicast DHCPINFORM; prints {"reply": "ACK"|null, "serverId"}.
 *
 * Codec: dist/protocols/dhcp (run `npx tsc -p .` first). Bounded: every wait has a timeout
 * and the run ends by itself.
 */
import { createSocket } from 'node:dgram';
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'protocols', 'dhcp', 'index.js');
const D = await import(dist);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    clients: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '50' },
    rate: { type: 'string' },
    'timeout-ms': { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
    out: { type: 'string' },
    'mac-prefix': { type: 'string', default: '02:00' },
    'server-port': { type: 'string', default: '67' },
    'client-port': { type: 'string', default: '68' },
    target: { type: 'string', default: '255.255.255.255' },
    ciaddr: { type: 'string' },
  },
});
const mode = positionals[0] ?? 'dora';
const N = Number(values.clients);
const TIMEOUT = Number(values['timeout-ms']);
const SERVER_PORT = Number(values['server-port']);

const sock = createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 8 << 20 });
await new Promise((r) => sock.bind(Number(values['client-port']), '0.0.0.0', r));
sock.setBroadcast(true);
sock.setSendBufferSize(8 << 20);

/** xid → resolve(reply packet) */
const waiting = new Map();
sock.on('message', (msg) => {
  // Only replies someone waits for are decoded (xid at offset 4): the simulator shares the
  // CPUs with the server under test, so it does as little as it can.
  if (msg.length < 240 || msg[0] !== D.BOOTREPLY) return;
  const w = waiting.get(msg.readUInt32BE(4));
  if (!w) return;
  let p;
  try {
    p = D.decodeDhcp(msg);
  } catch {
    return;
  }
  waiting.delete(p.xid);
  clearTimeout(w.timer);
  w.resolve(p);
});

let nextXid = (Math.random() * 0x7fffffff) >>> 0;
/**
 * Client i's MAC: the 2-byte prefix, then 4 bytes hashed from i, so addresses look like real
 * NICs' (dnsmasq picks an address by hashing the MAC; sequential MACs would be unfair to it).
 */
const macOf = (i) => {
  const h = createHash('sha1').update(`${values['mac-prefix']}/${i}`).digest();
  return [...values['mac-prefix'].split(':'), ...[...h.subarray(0, 4)].map((x) => x.toString(16).padStart(2, '0'))].join(':');
};

/** Sends one request and waits for the reply with the same xid (undefined on timeout). */
function exchange(mac, type, o = {}) {
  const xid = (nextXid = (nextXid + 1) >>> 0);
  const p = D.clientPacket('linux-ipconfig', { mac, xid, messageType: type, ciaddr: o.ciaddr });
  if (o.requested) D.setOption(p, D.OPT.REQUESTED_IP, D.encode.ip(o.requested));
  if (o.serverId) D.setOption(p, D.OPT.SERVER_ID, D.encode.ip(o.serverId));
  const bytes = D.encodeDhcp(p);
  const to = o.to ?? values.target;
  if (o.noReply) {
    sock.send(bytes, SERVER_PORT, to);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(xid);
      resolve(undefined);
    }, TIMEOUT);
    waiting.set(xid, { resolve, timer });
    sock.send(bytes, SERVER_PORT, to);
  });
}

const msgType = (p) => p && D.getOption(p, D.OPT.MESSAGE_TYPE)?.[0];
const serverIdOf = (p) => D.readIp(D.getOption(p, D.OPT.SERVER_ID));
const leaseOf = (p) => D.readU32(D.getOption(p, D.OPT.LEASE_TIME));

async function dora(mac) {
  const offer = await exchange(mac, D.DHCPDISCOVER);
  if (msgType(offer) !== D.DHCPOFFER) return { ok: false, why: offer ? 'not an offer' : 'no offer' };
  const sid = serverIdOf(offer);
  const sent = Date.now();
  const ack = await exchange(mac, D.DHCPREQUEST, { requested: offer.yiaddr, serverId: sid });
  if (msgType(ack) !== D.DHCPACK) return { ok: false, why: ack ? 'nak' : 'no ack' };
  return { ok: true, ip: ack.yiaddr, sid, sent, recv: Date.now(), lease: leaseOf(ack) };
}

const pct = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);

/**
 * The simulator's own code paths run a few hundred times before the clock starts: cold, the
 * first DORAs of a run took 5-30 ms in the simulator itself (lazy compilation, interpreted
 * codec), which was most of the paced p99 of either server. Nothing is sent.
 */
async function warmUp() {
  for (let k = 0; k < 300; k++) {
    const mac = macOf(-1 - (k % 8));
    D.encodeDhcp(D.clientPacket('linux-ipconfig', { mac, xid: k, messageType: D.DHCPDISCOVER }));
    const req = D.clientPacket('linux-ipconfig', { mac, xid: k, messageType: D.DHCPREQUEST });
    D.setOption(req, D.OPT.REQUESTED_IP, D.encode.ip('192.0.2.10'));
    D.setOption(req, D.OPT.SERVER_ID, D.encode.ip('192.0.2.1'));
    const reply = Buffer.from(D.encodeDhcp(D.buildReply(D.decodeDhcp(D.encodeDhcp(req)), { messageType: D.DHCPACK, yiaddr: '192.0.2.10', options: [{ code: D.OPT.SERVER_ID, data: D.encode.ip('192.0.2.1') }, { code: D.OPT.LEASE_TIME, data: D.encode.u32(3600) }] })));
    const p = D.decodeDhcp(reply);
    if (reply.readUInt32BE(4) !== p.xid || msgType(p) !== D.DHCPACK || !serverIdOf(p) || !leaseOf(p)) throw new Error('warm-up: codec round trip failed');
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 100));
}

if (mode === 'dora') {
  // MACs hashed up front, not while clients are being timed.
  const macs = Array.from({ length: N }, (_, i) => macOf(i + 1));
  await warmUp();
  const lat = [];
  let failed = 0;
  let retries = 0;
  let next = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const mac = macs[i];
      for (let attempt = 0; attempt < 3; attempt++) {
        const s = process.hrtime.bigint();
        const r = await dora(mac);
        if (r.ok) {
          lat.push(Number(process.hrtime.bigint() - s) / 1e6);
          break;
        }
        if (attempt === 2) failed++;
        else retries++;
      }
    }
  };
  if (values.rate) {
    // Open loop: a new client every 1/rate s, whatever the server's pace (latency at a fixed load).
    const rate = Number(values.rate);
    const one = async (i) => {
      const mac = macs[i];
      for (let attempt = 0; attempt < 3; attempt++) {
        const s = process.hrtime.bigint();
        const r = await dora(mac);
        if (r.ok) return void lat.push(Number(process.hrtime.bigint() - s) / 1e6);
        if (attempt === 2) failed++;
        else retries++;
      }
    };
    // Sleeps until the next arrival is due (one wake-up per client, not one per millisecond).
    const started = [];
    const tStart = performance.now();
    while (started.length < N) {
      const due = Math.min(N, Math.floor(((performance.now() - tStart) * rate) / 1000) + 1);
      while (started.length < due) started.push(one(started.length));
      const wait = tStart + (started.length * 1000) / rate - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(0, Math.round(wait))));
    }
    await Promise.all(started);
  } else {
    await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  console.log(JSON.stringify({ completed: lat.length, failed, retries, seconds: +seconds.toFixed(3), rate: +(lat.length / seconds).toFixed(1), p50: +pct(lat, 0.5).toFixed(3), p99: +pct(lat, 0.99).toFixed(3) }));
} else if (mode === 'churn') {
  const events = [];
  // Streamed as they happen (the crash test reads them while the run goes on).
  const outFd = values.out ? openSync(values.out, 'w') : undefined;
  const record = (e) => {
    events.push(e);
    if (outFd !== undefined) writeSync(outFd, JSON.stringify(e) + '\n');
  };
  let end = Date.now() + Number(values.seconds) * 1000;
  process.once('SIGTERM', () => (end = 0)); // finish the current steps, write the events, exit
  let identities = N;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const slot = async (i) => {
    let mac = macOf(i + 1);
    while (Date.now() < end) {
      const r = await dora(mac);
      if (!r.ok) {
        await sleep(50 + Math.random() * 100);
        continue;
      }
      record({ ev: 'ack', mac, ip: r.ip, sent: r.sent, recv: r.recv, lease: r.lease });
      let have = r;
      const renewals = Math.floor(Math.random() * 3);
      for (let k = 0; k < renewals && Date.now() < end && have; k++) {
        await sleep(50 + Math.random() * 200);
        const sent = Date.now();
        const ack = await exchange(mac, D.DHCPREQUEST, { ciaddr: have.ip, to: have.sid });
        if (msgType(ack) === D.DHCPACK && ack.yiaddr === have.ip) {
          record({ ev: 'ack', mac, ip: ack.yiaddr, sent, recv: Date.now(), lease: leaseOf(ack), renew: true });
        } else {
          have = undefined; // NAK or lost: start over (the lease is still ours until it runs out)
        }
      }
      if (have && Math.random() < 0.4) {
        const t = Date.now();
        // Released before the RELEASE is sent: from now on this client no longer counts on it.
        record({ ev: 'release', mac, ip: have.ip, t });
        await exchange(mac, D.DHCPRELEASE, { ciaddr: have.ip, to: have.sid, noReply: true });
        mac = macOf(++identities);
      }
      await sleep(20 + Math.random() * 80);
    }
  };
  await Promise.all(Array.from({ length: N }, (_, i) => slot(i)));
  if (outFd !== undefined) closeSync(outFd);
  console.log(JSON.stringify({ acks: events.filter((e) => e.ev === 'ack').length, releases: events.filter((e) => e.ev === 'release').length, identities }));
} else if (mode === 'inform') {
  // One DHCPINFORM from --ciaddr to --target (unicast): does anyone answer?
  const r = await exchange(macOf(0xabcdef), D.DHCPINFORM, { ciaddr: values.ciaddr, to: values.target });
  console.log(JSON.stringify({ reply: r ? D.messageTypeName(msgType(r)) : null, serverId: r ? serverIdOf(r) : null }));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
sock.close();
