/**
 * The per-packet caches of the proxyDHCP decision (policyFromConfig's per-MAC settings, the
 * allow-list verdicts, decide()'s derived services/option 43 per settings and server): a
 * cached answer must never outlive its config generation, leak between clients or servers,
 * or be changed by a later reply.
 */
import { describe, expect, test } from 'vitest';
import { OPT, classify, clientPacket, decodeDhcp, encodeDhcp, getOption, parsePxeOptions, readIp, type ClientKind } from '../protocols/dhcp/index.js';
import { loadConfigText } from '../src/config/load.js';
import { decide, type ReplyDecision } from '../src/dhcp/decide.js';
import { isAllowed, policyFromConfig, type DhcpPolicy } from '../src/dhcp/policy.js';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';

function policy(text: string): DhcpPolicy {
  return policyFromConfig(loadConfigText(text, { overrides: { http: { enabled: false } } }));
}

function reply(pol: DhcpPolicy, kind: ClientKind, mac: string, server = '10.0.0.1'): ReplyDecision {
  const f = classify(decodeDhcp(encodeDhcp(clientPacket(kind, { mac }))), { dstPort: 67 });
  const d = decide(f, pol, server);
  if (d.action !== 'reply') throw new Error(`ignored: ${d.reason}`);
  return d;
}

describe('proxyDHCP decision caches', () => {
  test('per-MAC settings: each client its own, and a new config generation sees the new file', () => {
    const v1 = policy(`[${A}]\nBOOT_FILE=ltsp/a.kpxe\n`);
    for (let i = 0; i < 3; i++) {
      expect(reply(v1, 'bios-pxe', A).bootFile).toBe('ltsp/a.kpxe');
      expect(reply(v1, 'bios-pxe', B).bootFile).toBe('ltsp/undionly.kpxe');
    }
    const v2 = policy(`[${A}]\nBOOT_FILE=ltsp/a2.kpxe\n[${B}]\nBOOT_FILE=ltsp/b.kpxe\n`);
    expect(reply(v2, 'bios-pxe', A).bootFile).toBe('ltsp/a2.kpxe');
    expect(reply(v2, 'bios-pxe', B).bootFile).toBe('ltsp/b.kpxe');
    expect(reply(v1, 'bios-pxe', A).bootFile).toBe('ltsp/a.kpxe'); // the old generation is unchanged
    expect(Object.isFrozen(v1.clientSettings(A))).toBe(true);
  });

  test('option 43 and 54 follow the server address; shared bytes are not changed by replies', () => {
    const pol = policy('');
    const menu = (d: ReplyDecision) => parsePxeOptions(d.reply.options!.find((o) => o.code === OPT.VENDOR_SPECIFIC)!.data)!;
    const a = reply(pol, 'bios-pxe', A, '10.0.0.1');
    const b = reply(pol, 'bios-pxe', B, '10.0.0.2');
    expect(menu(a).bootServers).toEqual([{ type: 32768, ips: ['10.0.0.1'] }]);
    expect(menu(b).bootServers).toEqual([{ type: 32768, ips: ['10.0.0.2'] }]);
    const id = (d: ReplyDecision) => readIp(getOption({ options: d.reply.options! }, OPT.SERVER_ID));
    expect([id(a), id(b)]).toEqual(['10.0.0.1', '10.0.0.2']);
    // Encoding a reply copies the cached bytes: a second reply is byte-identical apart from the xid.
    const again = reply(pol, 'bios-pxe', A, '10.0.0.1');
    expect(again.reply.options).toEqual(a.reply.options);
  });

  test('a Raspberry Pi and a plain BIOS client of the same settings get their own menus', () => {
    const pol = policy('');
    const items = (mac: string) => parsePxeOptions(reply(pol, 'bios-pxe', mac).reply.options!.find((o) => o.code === OPT.VENDOR_SPECIFIC)!.data)!.menu;
    expect(items(A)).toEqual([{ type: 32768, description: 'undionly.kpxe' }]);
    expect(items('b8:27:eb:00:00:01')).toEqual([{ type: 32768, description: 'undionly.kpxe' }, { type: 32772, description: 'Raspberry Pi Boot   ' }]);
    expect(items(A)).toEqual([{ type: 32768, description: 'undionly.kpxe' }]);
  });

  test('allow-list verdicts are per list and per MAC', () => {
    const one = ['52:54:00:00:00:0*'];
    const other = ['aa:bb:*'];
    expect([isAllowed(A, one), isAllowed(A, other), isAllowed('aa:bb:cc:dd:ee:ff', one), isAllowed('aa:bb:cc:dd:ee:ff', other)]).toEqual([true, false, false, true]);
    expect([isAllowed(A, one), isAllowed(A, other)]).toEqual([true, false]);
    expect(isAllowed(A, [])).toBe(true);
  });

  test('many distinct MACs (more than the cache holds) still resolve right', () => {
    const pol = policy(`[52:54:00:00:1*]\nBOOT_FILE=ltsp/glob.kpxe\n`);
    for (let i = 0; i < 5000; i++) {
      const mac = `52:54:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      expect(pol.clientSettings(mac).BOOT_FILE).toBe(mac.startsWith('52:54:00:00:1') ? 'ltsp/glob.kpxe' : undefined);
    }
  });
});
