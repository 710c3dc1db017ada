#!/usr/bin/env node
/**
 * DORA timings at the simulated clients' NIC, from a tcpdump capture (classic pcap, ethernet,
 * µs or ns) made by bench/dhcp-full.mjs --wire:
 *
 *   node bench/dhcp-full-wire.mjs CAPTURE [--slowest]
 *
 * Prints p50/p99/max of, per client (chaddr): server = DISCOVER→OFFER + REQUEST→ACK (what
 * the server took, kernel timestamps, nothing of the simulator's own delays), offer, ack,
 * clientTurn = OFFER→REQUEST (the simulator), wireDora = DISCOVER→ACK. Compare wireDora with
 * the simulator's own figures to see how much of a p99 is the simulator's (with the timing in
 * dhcp-full-sim.mjs: 0.1-0.35 ms).
 */
import { readFileSync } from 'node:fs';
const buf = readFileSync(process.argv[2]);
const magic = buf.readUInt32LE(0);
const nano = magic === 0xa1b23c4d;
let off = 24;
const ev = new Map(); // xid -> {1: t, 2: t, 3: t, 5: t}
while (off + 16 <= buf.length) {
  const sec = buf.readUInt32LE(off), frac = buf.readUInt32LE(off + 4), incl = buf.readUInt32LE(off + 8);
  const t = sec * 1e3 + (nano ? frac / 1e6 : frac / 1e3);
  const f = buf.subarray(off + 16, off + 16 + incl);
  off += 16 + incl;
  if (f.length < 42 + 240 || f.readUInt16BE(12) !== 0x0800) continue;
  const ihl = (f[14] & 15) * 4;
  const d = f.subarray(14 + ihl + 8);
  const xid = d.readUInt32BE(4);
  const mac = d.toString('hex', 28, 34);
  let p = 240, type;
  while (p < d.length && d[p] !== 255) { if (d[p] === 0) { p++; continue; } if (d[p] === 53) type = d[p + 2]; p += 2 + d[p + 1]; }
  if (!type) continue;
  let e = ev.get(xid); if (!e) ev.set(xid, (e = { mac }));
  if (e[type] === undefined) e[type] = t;
}
// Per client (chaddr): its last DISCOVER that got an OFFER, its REQUEST that got an ACK.
const byMac = new Map();
for (const e of ev.values()) {
  let m = byMac.get(e.mac); if (!m) byMac.set(e.mac, (m = {}));
  if (e[1] !== undefined && e[2] !== undefined && (!m.d || e[1] > m.d[1])) m.d = e;
  if (e[3] !== undefined && e[5] !== undefined) m.r = e;
}
const srv = [], offerLat = [], ackLat = [], turn = [], whole = [], at = [];
let first = Infinity;
for (const e of ev.values()) if (e[1] !== undefined && e[1] < first) first = e[1];
for (const { d: e, r } of byMac.values()) {
  if (!e || !r) continue;
  offerLat.push(e[2] - e[1]); ackLat.push(r[5] - r[3]); turn.push(r[3] - e[2]);
  srv.push(e[2] - e[1] + r[5] - r[3]); whole.push(r[5] - e[1]); at.push(e[1] - first);
}
const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f = (xs) => `p50 ${q(xs, 0.5).toFixed(2)} p99 ${q(xs, 0.99).toFixed(2)} max ${q(xs, 1).toFixed(2)}`;
console.log(JSON.stringify({ n: srv.length, server: f(srv), offer: f(offerLat), ack: f(ackLat), clientTurn: f(turn), wireDora: f(whole) }));
if (process.argv[3] === '--slowest') {
  const idx = srv.map((v, i) => i).sort((a, b) => srv[b] - srv[a]).slice(0, 20);
  for (const i of idx) console.log(`at ${at[i].toFixed(0).padStart(5)} ms: srv ${srv[i].toFixed(2)} offer ${offerLat[i].toFixed(2)} ack ${ackLat[i].toFixed(2)} turn ${turn[i].toFixed(2)}`);
}
