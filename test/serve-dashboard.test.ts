import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, stat, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:dgram';
import { encodeDhcp } from '../protocols/dhcp/index.js';
import { silentLogger } from '../src/log.js';
import { startDaemon, type Daemon } from '../src/serve/daemon.js';
import { buildDemoTree, capturedSteps, demoConfig } from '../src/serve/demo.js';
import { bindUdp, dhcpExchange, tftpFetch } from '../src/serve/sim-client.js';

const run = promisify(execFile);
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('dashboard in headless Chromium', () => {
  let root: string;
  let daemon: Daemon;
  let client: Socket;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'ltsp-dash-'));
    const { baseDir, tftpDir } = await buildDemoTree(root);
    client = await bindUdp(0, '0.0.0.0');
    daemon = await startDaemon({ loaded: demoConfig(baseDir, tftpDir), log: silentLogger, dhcpClientPort: client.address().port });
    // One client boots as far as its firmware NBP: DISCOVER, 4011 REQUEST, TFTP.
    const [discover, request] = await capturedSteps();
    await dhcpExchange(client, encodeDhcp(discover!.packet), { address: '127.0.0.1', port: daemon.ports.dhcp! }, discover!.packet.xid);
    const ack = await dhcpExchange(client, encodeDhcp({ ...request!.packet, ciaddr: '127.0.0.1' }), { address: '127.0.0.1', port: daemon.ports.pxe! }, request!.packet.xid);
    await tftpFetch({ address: '127.0.0.1', port: daemon.ports.tftp! }, ack.file, { blksize: 1468, windowsize: 4 });
  });

  afterAll(async () => {
    client?.close();
    await daemon?.stop(0);
    await rm(root, { recursive: true, force: true });
  });

  it('serves /api/clients with the joined timeline', async () => {
    const r = await fetch(`http://127.0.0.1:${daemon.ports.http}/api/clients`);
    const body = (await r.json()) as { clients: { mac: string; ip: string; stage: string; entries: unknown[] }[] };
    expect(body.clients).toHaveLength(1);
    expect(body.clients[0]).toMatchObject({ mac: '52:54:00:77:00:01', ip: '127.0.0.1', stage: 'nbp', arch: 'efi-x64' });
  });

  it('renders the booting client in Chromium (DOM + screenshot)', async () => {
    const url = `http://127.0.0.1:${daemon.ports.http}/`;
    const profile = path.join(root, 'profile');
    await mkdir(profile);
    const { stdout: dom } = await run('chromium', [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--dump-dom', url], { timeout: 60_000 });
    expect(dom).toMatch(/<tr data-client="52:54:00:77:00:01">/);
    expect(dom).toContain('127.0.0.1');
    expect(dom).toMatch(/class="stage"[^>]*>nbp</);
    expect(dom).toContain('ltsp/snponly.efi');
    expect(dom).toMatch(/1 clients seen, 1 active/);

    const shot = path.join(tmpdir(), 'ltsp-ts-dashboard.png');
    await run('chromium', [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--window-size=1280,600', `--screenshot=${shot}`, url], { timeout: 60_000 });
    const s = await stat(shot);
    expect(s.size).toBeGreaterThan(5000);
    console.log(`dashboard screenshot: ${shot} (${s.size} bytes)`);
  });
});
