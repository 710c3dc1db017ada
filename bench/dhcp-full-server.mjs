#!/usr/bin/env node
/**
 * Runs ltsp-ts's full DHCP service alone (dist/src/dhcp/full/service.js), for the netns
 * tests and bench/dhcp-full.mjs until `ltsp-ts serve --dhcp-mode full` is wired in:
 *
 *   node bench/dhcp-full-server.mjs --config FILE [--lease-file F] [--range S,E[,LEASE]]
 *        [--interface IF] [--guard auto|nftables|systemd|single-interface|none] [--log-level L]
 *        [--compact-after RECORDS] [--commit-on auto|loop|pool] [--warm-up DORAS]
 *
 * Prints one JSON line `{"ready":true,...}` on stdout once serving; logs go to stderr.
 * SIGTERM/SIGINT: close (removes the nftables guard table).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src');
const { values } = parseArgs({
  options: {
    config: { type: 'string', default: '/dev/null' },
    'lease-file': { type: 'string' },
    range: { type: 'string' },
    interface: { type: 'string', multiple: true },
    guard: { type: 'string', default: 'auto' },
    'compact-after': { type: 'string' },
    'commit-on': { type: 'string' },
    'warm-up': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
  },
});
const { loadConfig } = await import(path.join(dist, 'config', 'index.js'));
const { createLogger } = await import(path.join(dist, 'log.js'));
const { startFullDhcpService } = await import(path.join(dist, 'dhcp', 'full', 'service.js'));

const dhcp = { mode: 'full' };
if (values['lease-file']) dhcp.leaseFile = values['lease-file'];
if (values.range) {
  const [start, end, lease] = values.range.split(',');
  dhcp.range = { start, end, leaseSeconds: lease ? Number(lease) : 43200 };
}
const overrides = { dhcp, logLevel: values['log-level'] };
if (values.interface) overrides.interfaces = values.interface;
const loaded = await loadConfig({ configFile: values.config, explicit: values.config !== '/dev/null', overrides });
const log = createLogger(loaded.config.logLevel, { pretty: false });
if (loaded.errors.length) {
  for (const e of loaded.errors) console.error(`${e.file}:${e.line}: ${e.message}`);
  process.exit(1);
}
let svc;
try {
  svc = await startFullDhcpService({ loaded, log, guard: values.guard, compactAfter: values['compact-after'] ? Number(values['compact-after']) : undefined, commitOn: values['commit-on'], warmUp: values['warm-up'] === undefined ? undefined : Number(values['warm-up']) });
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, port: svc.port, iface: svc.iface.name, address: svc.iface.address, guard: svc.guard.kind }) + '\n');
const stop = () => svc.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
