import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { findPortHolders, parseProcNet, describeHolder } from '../src/serve/port-owner.js';

describe('port owner lookup', () => {
  it('parses /proc/net/udp listeners and skips connected sockets', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
      '  1: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0',
      '  2: 0100007F:E2B4 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0',
    ].join('\n');
    expect(parseProcNet(text, 'udp')).toEqual([{ proto: 'udp', port: 67, address: '0.0.0.0', inode: 4242 }]);
  });

  it('names the process that holds a UDP port', async () => {
    // A real peer holding a port: a child node process with a bound UDP socket.
    const child = spawn(process.execPath, ['-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.bind(0, '127.0.0.1', () => { console.log(s.address().port); });
      setTimeout(() => process.exit(0), 20000);`]);
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
        child.once('error', reject);
        setTimeout(() => reject(new Error('child did not start')), 10000);
      });
      const holders = await findPortHolders([{ proto: 'udp', port }]);
      expect(holders).toHaveLength(1);
      expect(holders[0]).toMatchObject({ proto: 'udp', port, address: '127.0.0.1', pid: child.pid, command: 'node' });
      expect(describeHolder(holders[0]!)).toBe(`UDP port ${port} on 127.0.0.1 is already in use by node (pid ${child.pid})`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('does not report this process as a holder', async () => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    try {
      expect(await findPortHolders([{ proto: 'udp', port: s.address().port }])).toEqual([]);
    } finally {
      s.close();
    }
  });
});
