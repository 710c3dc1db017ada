/**
 * bench/storm's load generator: N simulated netboot clients against one server set, run by
 * bench/storm.mjs inside the client network namespace (it needs UDP 68 and the client
 * addresses the driver put on the veth). Not meant to be run by hand.
 *
 *   node bench/storm-client.mjs '<json options>'    → one JSON line on stdout
 *
 * Main thread: the firmware's DHCP, all clients on one socket bound to UDP 68 (replies are
 * dispatched by xid): DISCOVER broadcast to 67 → proxy OFFER; then the boot-server REQUEST
 * to 4011 from the client's own address, as firmware does: OVMF (even clients) sends a plain
 * DHCPREQUEST, a BIOS PXE ROM (odd clients) picks the first item of the option-43 menu and
 * asks for it with sub-option 71 → DHCPACK with the boot file. Lost packets are re-sent after
 * 1, 2, 4, 8 s (iPXE-like; PXE ROMs wait 4 s and more).
 * Worker threads: per client, from its own IP, TFTP of the boot file named in the ACK
 * (blksize 1432 like iPXE, tsize, no windowsize; sim-client's tftpFetch), then over one
 * keep-alive HTTP connection the iPXE script, the kernel and the initrd (streamed and
 * counted, not buffered). Every download is size-checked; every `sampleEvery`-th client's
 * downloads are sha256-checked too (hashing all of them would make the client the
 * bottleneck). A client stops at its first failed step, like a machine that fails to boot.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist');
const distUrl = (...p) => pathToFileURL(path.join(dist, ...p)).href;
/** Wall-clock ms, comparable across worker threads (each has its own performance.now()). */
const now = () => performance.timeOrigin + performance.now();

/** Event-loop delay percentiles in ms: how busy this thread was. */
function eldStats(h) {
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

// ---------------------------------------------------------------- worker: TFTP + HTTP
if (!isMainThread) {
  const o = workerData;
  const { tftpFetch } = await import(distUrl('src', 'serve', 'sim-client.js'));
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();

  /** GET on the client's keep-alive agent; the body is counted (and hashed when asked). */
  const httpGet = (agent, localAddress, url, hash) =>
    new Promise((resolve, reject) => {
      const t0 = now();
      let connectMs;
      const req = http.get(url, { agent, localAddress, signal: AbortSignal.timeout(o.httpTimeoutMs) }, (res) => {
        const headMs = now() - t0;
        let bytes = 0;
        const h = hash ? createHash('sha256') : undefined;
        const head = [];
        res.on('data', (c) => {
          bytes += c.length;
          h?.update(c);
          if (head.length < 1 && bytes <= 65536) head.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode, bytes, sha: h?.digest('hex'), head: Buffer.concat(head), connectMs, headMs, t0 }));
        res.on('error', reject);
      });
      req.once('socket', (s) => (s.connecting ? s.once('connect', () => (connectMs = now() - t0)) : (connectMs = 0)));
      req.on('error', reject);
      req.setTimeout(o.idleTimeoutMs, () => req.destroy(new Error(`no data for ${o.idleTimeoutMs} ms`)));
    });

  async function boot(job) {
    const r = { i: job.i, steps: {} };
    const check = job.i % o.sampleEvery === 0;
    const step = async (name, fn) => {
      const t = now();
      try {
        await fn();
        r.steps[name] = now() - t;
      } catch (e) {
        r.failed = name;
        r.error = String(e?.message ?? e).slice(0, 200);
        throw e;
      }
    };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      if (!o.skip?.includes('tftp')) await step('tftp', async () => {
        const t = await tftpFetch({ address: job.server, port: 69 }, job.bootFile, { blksize: o.blksize, timeoutMs: o.idleTimeoutMs, localAddress: job.ip, keep: check });
        const want = o.expect[job.bootFile];
        if (!want) throw new Error(`unexpected boot file '${job.bootFile}'`);
        if (t.bytes !== want.size) throw new Error(`${job.bootFile}: ${t.bytes} bytes, expected ${want.size}`);
        if (t.blksize !== o.blksize) throw new Error(`${job.bootFile}: blksize ${t.blksize} granted, asked ${o.blksize}`);
        if (check && createHash('sha256').update(t.data).digest('hex') !== want.sha) throw new Error(`${job.bootFile}: sha256 mismatch`);
      });
      const base = `http://${job.server}:${o.httpPort}`;
      await step('script', async () => {
        const g = await httpGet(agent, job.ip, `${base}/ltsp/ltsp.ipxe`, false);
        r.scriptAt = g.t0;
        r.steps.scriptConnect = g.connectMs;
        r.steps.scriptHead = g.headMs;
        if (g.status !== 200 || !g.head.toString('latin1').startsWith('#!ipxe')) throw new Error(`script: status ${g.status}, ${g.bytes} bytes`);
      });
      for (const [name, file] of [['kernel', 'ltsp/x86_64/vmlinuz'], ['initrd', 'ltsp/x86_64/initrd.img']]) {
        await step(name, async () => {
          const g = await httpGet(agent, job.ip, `${base}/${file}`, check);
          const want = o.expect[file];
          if (g.status !== 200 || g.bytes !== want.size) throw new Error(`${file}: status ${g.status}, ${g.bytes} bytes, expected ${want.size}`);
          if (check && g.sha !== want.sha) throw new Error(`${file}: sha256 mismatch`);
        });
      }
    } catch {
      /* recorded in r */
    } finally {
      agent.destroy();
    }
    r.endAt = now();
    return r;
  }

  parentPort.on('message', (job) => {
    if (job === 'stop') {
      parentPort.postMessage({ eld: eldStats(eld) });
      return;
    }
    boot(job).then((r) => parentPort.postMessage(r));
  });
} else {
  // -------------------------------------------------------------- main: DHCP, dispatch
  const o = JSON.parse(process.argv[2]);
  const dhcp = await import(distUrl('protocols', 'dhcp', 'index.js'));
  const { bindUdp, dhcpExchange } = await import(distUrl('src', 'serve', 'sim-client.js'));
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const cpu0 = process.cpuUsage();

  const sock68 = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 16 << 20 });
  await new Promise((resolve, reject) => {
    sock68.once('error', reject);
    sock68.bind(68, '0.0.0.0', resolve);
  });
  sock68.setBroadcast(true);
  /** xid → callback of the exchange waiting for it */
  const pending = new Map();
  sock68.on('message', (m) => {
    if (m.length < 240 || m[0] !== 2) return;
    const cb = pending.get(m.readUInt32BE(4));
    if (!cb) return;
    try {
      cb(dhcp.decodeDhcp(m));
    } catch {
      /* not decodable: ignore, as firmware does */
    }
  });
  /** One broadcast DISCOVER; resolves with the first reply carrying its xid, or null. */
  const discoverOnce = (bytes, xid, timeoutMs) =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        pending.delete(xid);
        resolve(null);
      }, timeoutMs);
      pending.set(xid, (p) => {
        clearTimeout(t);
        pending.delete(xid);
        resolve(p);
      });
      sock68.send(bytes, 67, '255.255.255.255');
    });

  const mac = (i) => ['52', '54', '77', (i >> 16) & 255, (i >> 8) & 255, i & 255].map((x) => (typeof x === 'number' ? x.toString(16).padStart(2, '0') : x)).join(':');
  const TRIES = o.dhcpTries;

  async function firmwareDhcp(i) {
    const kind = i % 2 ? 'bios-pxe' : 'ovmf-pxe';
    const xid = (o.xidBase + i * 2) >>> 0;
    const disc = Buffer.from(dhcp.clientPacketBytes(kind, { mac: mac(i), xid }));
    let tries = 0;
    let offer = null;
    while (!offer && tries < TRIES) offer = await discoverOnce(disc, xid, o.dhcpRetryMs << tries++);
    if (!offer) throw new Error(`no OFFER after ${tries} DISCOVERs`);
    const server = dhcp.readIp(dhcp.getOption(offer, 54)) ?? offer.siaddr;
    let bootItem;
    if (kind === 'bios-pxe') {
      const o43 = dhcp.getOption(offer, 43);
      const pxe = o43 ? dhcp.parsePxeOptions(o43) : undefined;
      // Bit 3: boot the file of the OFFER directly, no boot-server discovery.
      if (pxe?.discoveryControl !== undefined && pxe.discoveryControl & 8 && offer.file) return { server, bootFile: offer.file, tries };
      const item = pxe?.menu?.find((m) => m.type !== 0);
      if (!item) throw new Error('OFFER has neither a PXE menu item nor a direct boot file');
      bootItem = item.type;
    }
    const rxid = (xid + 1) >>> 0;
    const req = dhcp.clientPacketBytes(kind, { mac: mac(i), xid: rxid, messageType: dhcp.DHCPREQUEST, ciaddr: o.ips[i], bootItem });
    const s = await bindUdp(0, o.ips[i]);
    try {
      for (let a = 0; a < TRIES; a++) {
        tries++;
        try {
          const ack = await dhcpExchange(s, req, { address: server, port: 4011 }, rxid, o.dhcpRetryMs << a);
          if (!ack.file) throw new Error('boot-server ACK without a boot file');
          return { server, bootFile: ack.file, tries };
        } catch (e) {
          if (!/no DHCP reply/.test(e.message)) throw e;
        }
      }
      throw new Error(`no ACK on 4011 after ${TRIES} REQUESTs`);
    } finally {
      s.close();
    }
  }

  const workers = Array.from({ length: o.workers }, () => new Worker(fileURLToPath(import.meta.url), { workerData: o }));
  const results = new Array(o.clients);
  let done = 0;
  let finish;
  const allDone = new Promise((r) => (finish = r));
  const record = (r) => {
    results[r.i] = { ...results[r.i], ...r, steps: { ...results[r.i].steps, ...r.steps } };
    if (++done === o.clients) finish();
  };
  for (const w of workers) w.on('message', (m) => m.i !== undefined && record(m));

  const t0 = now() + 200;
  const starts = [];
  for (let i = 0; i < o.clients; i++) {
    const at = t0 + (o.spreadMs * i) / o.clients;
    starts.push(
      new Promise((r) => setTimeout(r, Math.max(0, at - now()))).then(async () => {
        const startAt = now();
        results[i] = { i, kind: i % 2 ? 'bios' : 'uefi', startAt, steps: {} };
        try {
          const d = await firmwareDhcp(i);
          results[i].steps.dhcp = now() - startAt;
          results[i].dhcpTries = d.tries;
          workers[i % workers.length].postMessage({ i, ip: o.ips[i], server: d.server, bootFile: d.bootFile });
        } catch (e) {
          record({ i, failed: 'dhcp', error: String(e.message).slice(0, 200), endAt: now(), steps: {} });
        }
      }),
    );
  }
  const deadline = setTimeout(() => finish(), o.deadlineMs);
  await allDone;
  clearTimeout(deadline);
  const eldWorkers = await Promise.all(workers.map((w) => new Promise((r) => (w.once('message', (m) => r(m.eld)), w.postMessage('stop')))));
  const cpu = process.cpuUsage(cpu0);
  for (let i = 0; i < o.clients; i++) if (!results[i]?.endAt) results[i] = { ...(results[i] ?? { i, steps: {} }), failed: 'deadline', error: `not finished within ${o.deadlineMs} ms` };
  process.stdout.write(JSON.stringify({ results, clientCpuSeconds: (cpu.user + cpu.system) / 1e6, eld: { main: eldStats(eld), workers: eldWorkers } }) + '\n');
  sock68.close();
  process.exit(0);
}
