import { describe, expect, it } from 'vitest';
import { BootTimeline, formatTimeline, stageOf } from '../src/serve/timeline.js';

describe('BootTimeline', () => {
  it('joins TFTP/HTTP events to the MAC that DHCP revealed for their IP', () => {
    const t = new BootTimeline();
    t.record({ time: 1000, service: 'dhcp', kind: 'offer', mac: '52:54:00:77:00:01', file: 'ltsp/undionly.kpxe', detail: { arch: 'BIOS' } });
    // TFTP before we know the IP: kept under the IP ...
    t.record({ time: 1100, service: 'tftp', kind: 'transfer', ip: '192.168.77.100', file: 'ltsp/undionly.kpxe', bytes: 70000 });
    expect(t.list().map((c) => c.id).sort()).toEqual(['52:54:00:77:00:01', 'ip:192.168.77.100']);
    // ... until a 4011 request names MAC and IP together: then merged.
    t.record({ time: 1200, service: 'dhcp', kind: 'ack', mac: '52:54:00:77:00:01', ip: '192.168.77.100', file: 'ltsp/ltsp.ipxe' });
    t.record({ time: 1300, service: 'http', kind: 'request', ip: '192.168.77.100', file: 'ltsp/x86_64/vmlinuz', bytes: 8_000_000 });
    const list = t.list();
    expect(list).toHaveLength(1);
    const c = list[0]!;
    expect(c.mac).toBe('52:54:00:77:00:01');
    expect(c.ip).toBe('192.168.77.100');
    expect(c.arch).toBe('BIOS');
    expect(c.stage).toBe('kernel');
    expect(c.bytes).toBe(8_070_000);
    expect(c.entries.map((e) => e.stage)).toEqual(['dhcp', 'nbp', 'dhcp', 'kernel']);
    expect(formatTimeline(c)).toMatch(/\+0\.300s  \[kernel\] http request +ltsp\/x86_64\/vmlinuz 8000000 B/);
  });

  it('counts repeated identical DHCP decisions on one entry', () => {
    const t = new BootTimeline();
    for (let i = 0; i < 5; i++) t.record({ time: 100 + i, service: 'dhcp', kind: 'offer', mac: '52:54:00:00:00:09', file: 'ltsp/undionly.kpxe', outcome: 'ok' });
    t.record({ time: 200, service: 'dhcp', kind: 'ack', mac: '52:54:00:00:00:09', file: 'ltsp/undionly.kpxe', outcome: 'ok' });
    const c = t.get('52:54:00:00:00:09')!;
    expect(c.entries.map((e) => [e.kind, e.repeats])).toEqual([['offer', 5], ['ack', undefined]]);
    expect(c.lastSeen).toBe(200);
    expect(formatTimeline(c)).toContain('(x5)');
  });

  it('classifies boot stages by file name', () => {
    expect(stageOf({ time: 0, service: 'tftp', kind: 't', file: 'ltsp/snponly.efi' })).toBe('nbp');
    expect(stageOf({ time: 0, service: 'http', kind: 't', file: 'ltsp/ltsp.ipxe' })).toBe('script');
    expect(stageOf({ time: 0, service: 'http', kind: 't', file: 'ltsp/ltsp.img' })).toBe('initrd');
    expect(stageOf({ time: 0, service: 'http', kind: 't', file: 'ltsp/x86_64/initrd.img' })).toBe('initrd');
    expect(stageOf({ time: 0, service: 'http', kind: 't', file: 'ltsp/images/x86_64.img' })).toBe('image');
  });

  it('evicts the least recently seen client beyond the cap', () => {
    const t = new BootTimeline(2);
    for (let i = 1; i <= 3; i++) t.record({ time: i, service: 'dhcp', kind: 'offer', mac: `52:54:00:00:00:0${i}` });
    expect(t.list().map((c) => c.id)).toEqual(['52:54:00:00:00:03', '52:54:00:00:00:02']);
  });
});
