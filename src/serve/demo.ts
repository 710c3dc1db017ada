/**
 * `ltsp-ts demo`: no root, no config. Builds a throw-away LTSP tree, starts the daemon on
 * loopback with ephemeral ports and walks one client through a real UEFI boot sequence
 * replayed from a firmware capture (pcap-fixtures/uefi-virtio-ovmfpxe-snponly.pcapng):
 *   OVMF DISCOVER → proxy OFFER → OVMF REQUEST on 4011 → ACK snponly.efi → TFTP of it with
 *   OVMF's options → iPXE DISCOVER → OFFER with the HTTP script URL → script → kernel and
 *   initrds over HTTP. Then it prints the client's boot timeline.
 */
import { mkdtemp, mkdir, writeFile, copyFile, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readCapture } from '../../protocols/pcap/index.js';
import { classify, decodeDhcp, encodeDhcp, type DhcpPacket } from '../../protocols/dhcp/index.js';
import { loadConfigText, type LoadedConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { startDaemon, type Daemon } from './daemon.js';
import { packageFile } from '../paths.js';
import { formatTimeline } from './timeline.js';
import { bindUdp, dhcpExchange, httpFetch, tftpFetch } from './sim-client.js';

const FIXTURE = packageFile('pcap-fixtures', 'uefi-virtio-ovmfpxe-snponly.pcapng');

export interface DemoOptions {
  log: Logger;
  out: (line: string) => void;
  /** Keep serving after the walk-through (Ctrl-C to stop). */
  keep?: boolean;
}

export interface Step {
  name: string;
  packet: DhcpPacket;
  port: 'dhcp' | 'pxe';
}

/** The three client packets of the boot, taken from the capture. */
export async function capturedSteps(): Promise<Step[]> {
  const cap = readCapture(await readFile(FIXTURE));
  const client = cap.packets
    .filter((p) => p.protocol === 'udp' && (p.dstPort === 67 || p.dstPort === 4011))
    .map((p) => ({ p, pkt: decodeDhcp(p.payload) }))
    .map((x) => ({ ...x, f: classify(x.pkt) }));
  const ovmfDiscover = client.find((x) => x.p.dstPort === 67 && x.f.messageTypeName === 'DISCOVER' && !x.f.ipxe && x.f.isPXE);
  const ovmfRequest = client.find((x) => x.p.dstPort === 4011 && !x.f.ipxe);
  const ipxeDiscover = client.find((x) => x.p.dstPort === 67 && x.f.messageTypeName === 'DISCOVER' && x.f.ipxeCapable);
  const ipxeRequest = client.find((x) => x.p.dstPort === 4011 && x.f.ipxeCapable);
  if (!ovmfDiscover || !ovmfRequest || !ipxeDiscover || !ipxeRequest) throw new Error(`demo: ${FIXTURE} lacks the expected packets`);
  return [
    { name: 'UEFI firmware (OVMF) DHCPDISCOVER', packet: ovmfDiscover.pkt, port: 'dhcp' },
    { name: 'UEFI firmware boot-server REQUEST', packet: ovmfRequest.pkt, port: 'pxe' },
    { name: 'iPXE (snponly.efi) DHCPDISCOVER', packet: ipxeDiscover.pkt, port: 'dhcp' },
    { name: 'iPXE (snponly.efi) proxyDHCP REQUEST', packet: ipxeRequest.pkt, port: 'pxe' },
  ];
}

/** A tiny LTSP tree: real iPXE binaries when Debian's ipxe is installed, placeholders otherwise. */
export async function buildDemoTree(root: string): Promise<{ baseDir: string; tftpDir: string }> {
  const baseDir = path.join(root, 'srv-ltsp');
  const tftpDir = path.join(root, 'srv-tftp');
  const ltsp = path.join(tftpDir, 'ltsp');
  await mkdir(path.join(baseDir, 'images'), { recursive: true, mode: 0o700 });
  await mkdir(path.join(ltsp, 'x86_64'), { recursive: true });
  for (const f of ['undionly.kpxe', 'snponly.efi']) {
    const src = path.join('/usr/lib/ipxe', f);
    if (existsSync(src)) await copyFile(src, path.join(ltsp, f));
    else await writeFile(path.join(ltsp, f), Buffer.alloc(64 * 1024, f));
  }
  // Kernel-less: stand-ins with the right names and plausible sizes.
  await writeFile(path.join(ltsp, 'x86_64', 'vmlinuz'), Buffer.alloc(2 << 20, 'k'));
  await writeFile(path.join(ltsp, 'x86_64', 'initrd.img'), Buffer.alloc(1 << 20, 'i'));
  await writeFile(path.join(ltsp, 'ltsp.img'), Buffer.alloc(64 << 10, 'l'));
  await writeFile(path.join(baseDir, 'images', 'x86_64.img'), Buffer.alloc(4096));
  return { baseDir, tftpDir };
}

/** Loopback, ephemeral ports, hidden menu: what the demo and the end-to-end tests serve. */
export function demoConfig(baseDir: string, tftpDir: string): LoadedConfig {
  return loadConfigText('[server]\nMENU_TIMEOUT=-1\nKERNEL_PARAMETERS="quiet"\n', {
    configFile: '(demo)',
    overrides: {
      baseDir,
      tftpDir,
      interfaces: ['lo'],
      serverIp: '127.0.0.1',
      dhcp: { port: 0, pxePort: 0 },
      tftp: { port: 0, address: '127.0.0.1' },
      http: { port: 0, address: '127.0.0.1' },
    },
  });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);

export async function runDemo(opts: DemoOptions): Promise<void> {
  const { out, log } = opts;
  const root = await mkdtemp(path.join(tmpdir(), 'ltsp-ts-demo-'));
  let daemon: Daemon | undefined;
  const client = await bindUdp(0, '0.0.0.0');
  try {
    const { baseDir, tftpDir } = await buildDemoTree(root);
    const loaded = demoConfig(baseDir, tftpDir);
    daemon = await startDaemon({ loaded, log, dhcpClientPort: client.address().port });
    const ports = daemon.ports;
    out(`ltsp-ts demo: tree in ${root}`);
    out(`serving on 127.0.0.1: proxyDHCP ${ports.dhcp}+${ports.pxe}, TFTP ${ports.tftp}, HTTP ${ports.http} (dashboard http://127.0.0.1:${ports.http}/)`);
    out('');

    const steps = await capturedSteps();
    let mac = '';
    let nbp = '';
    let scriptUrl = '';
    for (const step of steps) {
      const p = step.packet;
      mac = classify(p).mac;
      // The captured 4011 request carries the lease the router gave in the capture; this
      // client lives on loopback, so it asks with its own address.
      const pkt = step.port === 'pxe' ? encodeDhcp({ ...p, ciaddr: '127.0.0.1' }) : encodeDhcp(p);
      const reply = await dhcpExchange(client, pkt, { address: '127.0.0.1', port: step.port === 'pxe' ? ports.pxe! : ports.dhcp! }, p.xid);
      const rf = reply.file || '(empty: ask the boot server on 4011)';
      out(`${step.name} (${mac}) → ${reply.options.find((o) => o.code === 53)?.data[0] === 5 ? 'ACK' : 'OFFER'}: siaddr ${reply.siaddr}, file ${rf}`);
      if (step.port === 'pxe') (step.name.startsWith('iPXE') ? (scriptUrl = reply.file) : (nbp = reply.file));
    }
    if (!nbp) throw new Error('demo: the boot server did not hand out a boot file');
    const t = await tftpFetch({ address: '127.0.0.1', port: ports.tftp! }, nbp, { blksize: 1468, windowsize: 4 });
    const onDisk = await readFile(path.join(tftpDir, nbp));
    out(`TFTP ${nbp}: ${t.bytes} bytes, blksize ${t.blksize}, windowsize ${t.windowsize}, sha256 ${sha(t.data)} ${sha(t.data) === sha(onDisk) ? '(matches the file)' : '(MISMATCH)'}`);
    if (!scriptUrl.startsWith('http://')) throw new Error(`demo: iPXE was not handed an HTTP script URL (got '${scriptUrl}')`);
    const script = await httpFetch(`${scriptUrl}?mac=${mac}`);
    out(`HTTP ${scriptUrl}: ${script.status}, ${script.bytes} bytes of iPXE script; its boot lines:`);
    const text = script.body.toString('utf8');
    for (const line of text.split('\n').filter((l) => /^(kernel|initrd|boot)\b/.test(l.trim()))) out(`    ${line.trim()}`);
    // What iPXE would fetch next, with img=x86_64 (cpuid on a 64-bit CPU).
    const base = new URL(scriptUrl);
    for (const f of ['/ltsp/x86_64/vmlinuz', '/ltsp/ltsp.img', '/ltsp/x86_64/initrd.img']) {
      const r = await httpFetch(new URL(f, base).toString());
      out(`HTTP ${f}: ${r.status}, ${r.bytes} bytes in ${r.ms.toFixed(1)} ms`);
    }
    out('');
    out('Boot timeline (also at /api/clients and on the dashboard):');
    const c = daemon.timeline.get(mac);
    out(c ? formatTimeline(c) : `(no timeline for ${mac})`);
    if (opts.keep) {
      out(`\nstill serving; Ctrl-C to stop (dashboard http://127.0.0.1:${ports.http}/)`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    client.close();
    await daemon?.stop(1000);
    await rm(root, { recursive: true, force: true });
  }
}
