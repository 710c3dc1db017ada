/**
 * The proxyDHCP decision core: decide(facts, policy, server) → reply | ignore(reason).
 * Pure: facts come from classify() (protocols/dhcp), the policy from the config, the
 * server address from the interface the reply leaves on. What dnsmasq 2.90 does with
 * LTSP's config (reference: ltsp-behaviour.md §4.2, dnsmasq rfc2131.c) is the model:
 *
 *  - only PXEClient/HTTPClient vendor classes that send option 93 are answered;
 *  - port 67 answers DISCOVER (OFFER), the PXE port answers REQUEST (ACK);
 *  - a REQUEST/INFORM with option 43.71 (boot server discovery) is answered on either port;
 *  - BIOS (arch < 6): file + option 43 menu (6, 10, 8, 9); UEFI: siaddr = server, no 43,
 *    and the file only on the PXE port (dnsmasq's "UEFI workaround"), except arch 9, which
 *    dnsmasq gives the file directly (no pxe-service matches it);
 *  - UEFI HTTP Boot gets an OFFER with option 60 HTTPClient and a URL (dnsmasq ignores it).
 */
import {
  DHCPACK, DHCPDISCOVER, DHCPINFORM, DHCPOFFER, DHCPREQUEST, BOOTREQUEST, OPT,
  encode, encodePxeOptions, type DhcpFacts, type DhcpOption, type ReplySpec,
} from '../../protocols/dhcp/index.js';
import type { ClientSettings } from '../config/index.js';
import { bootFileKey } from '../config/keys.js';
import { allServices, firmwareFile, httpUrl, ipxeScript, isAllowed, servicesFor, type DhcpPolicy, type PxeService } from './policy.js';

export interface ReplyDecision {
  action: 'reply';
  kind: 'offer' | 'ack';
  reason: string;
  /** What the client boots (also when it will only learn it on the PXE port). */
  bootFile: string;
  /** Give to buildReply(request, reply). */
  reply: ReplySpec;
}
export interface IgnoreDecision {
  action: 'ignore';
  reason: string;
}
export type Decision = ReplyDecision | IgnoreDecision;

const ignore = (reason: string): IgnoreDecision => ({ action: 'ignore', reason });

/** A PXE menu as one client kind sees it, and its option 43 bytes (encoded on first use). */
interface Menu {
  services: PxeService[];
  vendorSpecific?: Uint8Array;
}
/**
 * What replies need that depends only on the policy, the client's settings and the server
 * address: option 54's bytes, the PXE services and, per menu, option 43. Derived once and
 * shared by every later reply (policyFromConfig caches a settings object per MAC), so a
 * packet costs a few map look-ups instead of re-deriving and re-encoding the menu. The
 * shared bytes are never written to: replies are encoded by copying them.
 */
interface ServerView {
  serverId: Uint8Array;
  all: PxeService[];
  /** Keyed by menuKey(). */
  menus: Map<number, Menu>;
}
const views = new WeakMap<DhcpPolicy, WeakMap<ClientSettings, Map<string, ServerView>>>();

function serverView(policy: DhcpPolicy, settings: ClientSettings, server: string): ServerView {
  let bySettings = views.get(policy);
  if (!bySettings) views.set(policy, (bySettings = new WeakMap()));
  let byServer = bySettings.get(settings);
  if (!byServer) bySettings.set(settings, (byServer = new Map()));
  let v = byServer.get(server);
  if (!v) byServer.set(server, (v = { serverId: encode.ip(server), all: allServices(policy, settings, server), menus: new Map() }));
  return v;
}

/** servicesFor() depends on these three facts only. */
const menuKey = (f: DhcpFacts): number => f.arch! * 4 + (f.ipxeCapable ? 2 : 0) + (f.raspberryPi ? 1 : 0);

function menuFor(f: DhcpFacts, v: ServerView): Menu {
  const k = menuKey(f);
  let m = v.menus.get(k);
  if (!m) v.menus.set(k, (m = { services: servicesFor(f, v.all) }));
  return m;
}

/** dnsmasq's UEFI workaround: one menu entry → the file only on the PXE port (not arch 9: no pxe-service matches it). */
const uefiWorkaround = (arch: number): boolean => arch >= 6 && arch !== 9;

const VENDOR_PXE = encode.string('PXEClient');
const VENDOR_HTTP = encode.string('HTTPClient');

export function decide(f: DhcpFacts, policy: DhcpPolicy, server: string): Decision {
  if (f.op !== BOOTREQUEST) return ignore('not a BOOTREQUEST');
  if (!f.isPXE && !f.isHTTPClient) return ignore(`not a PXE client (vendor class ${f.vendorClass === undefined ? 'absent' : `'${f.vendorClass}'`})`);
  if (f.arch === undefined) return ignore('no client architecture (option 93)');
  if (!isAllowed(f.mac, policy.allowClients)) return ignore('MAC not in ALLOWED_CLIENTS');
  const settings = policy.clientSettings(f.mac);
  const onPxePort = f.dstPort === policy.pxePort;
  const type = f.messageType;
  if (f.bootItem && (type === DHCPREQUEST || type === DHCPINFORM)) return bootServerAck(f, serverView(policy, settings, server), server);
  if (onPxePort ? type !== DHCPREQUEST : type !== DHCPDISCOVER) {
    return ignore(`${f.messageTypeName} on ${onPxePort ? 'the PXE port (only REQUEST is answered there)' : 'port 67 (the LAN DHCP server answers it)'}`);
  }
  const fw = firmwareFile(f.arch, policy, settings);
  if (fw === '') return ignore(`arch ${f.arch} (${f.archName}) is disabled in the config`);
  const file = f.ipxeCapable && !f.isHTTPClient ? ipxeScript(policy, server) : fw;
  if (!file) return ignore(`no boot file for arch ${f.arch} (${f.archName}): set ${bootFileKey(f.archName!)} in ltsp.conf`);
  if (f.isHTTPClient) {
    if (onPxePort) return ignore('HTTP Boot clients are answered on port 67 only');
    if (!policy.http.enabled) return ignore('UEFI HTTP Boot client, but the HTTP service is off');
    return httpOffer(f, /^https?:\/\//.test(file) ? file : httpUrl(server, policy.http.port, file), server, serverView(policy, settings, server));
  }
  const v = serverView(policy, settings, server);
  const options = pxeMisc(f, v);
  if (f.arch < 6 || (onPxePort && !uefiWorkaround(f.arch))) options.push({ code: OPT.VENDOR_SPECIFIC, data: vendorSpecific(menuFor(f, v), server) });
  // iPXE's ltsp.ipxe picks `${root-path}` as its image: hand it the client's DEFAULT_IMAGE.
  if (f.ipxeCapable && settings.DEFAULT_IMAGE) options.push({ code: OPT.ROOT_PATH, data: encode.string(settings.DEFAULT_IMAGE) });
  return proxyReply(f, file, onPxePort, server, options);
}

/** Options 54, 60 and the echoed 97 that every proxy reply carries (dnsmasq pxe_misc). */
function pxeMisc(f: DhcpFacts, v: ServerView, vendor = VENDOR_PXE): DhcpOption[] {
  const out: DhcpOption[] = [{ code: OPT.SERVER_ID, data: v.serverId }, { code: OPT.VENDOR_CLASS, data: vendor }];
  // dnsmasq echoes 97 only when it is at least 17 bytes, and then exactly 17.
  if (f.guidOption && f.guidOption.length >= 34) out.push({ code: OPT.CLIENT_GUID, data: new Uint8Array(Buffer.from(f.guidOption.slice(0, 34), 'hex')) });
  return out;
}

/** Option 43 of a BIOS (or arch 9 PXE-port) reply: the client's menu, pointing at this server. */
function vendorSpecific(m: Menu, server: string): Uint8Array {
  const services = m.services;
  m.vendorSpecific ??= encodePxeOptions({
    discoveryControl: services.length ? 3 : 8, // 3: no broadcast/multicast discovery; 8: just boot the file
    prompt: { timeout: services.length > 1 ? 255 : 0, text: 'PXE' },
    bootServers: services.length ? services.map((s) => ({ type: s.type, ips: [server] })) : undefined,
    menu: services.length ? services.map((s) => ({ type: s.type, description: s.menu })) : undefined,
  });
  return m.vendorSpecific;
}

/** Port 67 OFFER / PXE-port ACK, with the options decide() put together. */
function proxyReply(f: DhcpFacts, file: string, onPxePort: boolean, server: string, options: DhcpOption[]): ReplyDecision {
  const arch = f.arch!;
  const workaround = uefiWorkaround(arch);
  const discover = f.messageType === DHCPDISCOVER;
  const fresh = discover || f.ciaddr === '0.0.0.0';
  const firmware = `${f.archName}${f.ipxe ? (f.ipxeCapable ? ' iPXE' : ' iPXE without HTTP/menu: chain-load ours') : ''}${f.raspberryPi ? ' Raspberry Pi' : ''}`;
  return {
    action: 'reply',
    kind: discover ? 'offer' : 'ack',
    reason: workaround && !onPxePort ? `${firmware}: redirect to the PXE port for ${file}` : `${firmware}: ${file}`,
    bootFile: file,
    reply: {
      messageType: discover ? DHCPOFFER : DHCPACK,
      ciaddr: fresh ? '0.0.0.0' : f.ciaddr,
      broadcast: fresh ? true : undefined,
      siaddr: arch >= 6 ? server : '0.0.0.0',
      sname: workaround && onPxePort ? server : '',
      file: workaround && !onPxePort ? '' : file,
      options,
    },
  };
}

/** Boot server discovery (PXE 2.1 §2.2.6): the client asks for a menu item by boot type. */
function bootServerAck(f: DhcpFacts, v: ServerView, server: string): Decision {
  const item = f.bootItem!;
  if (item.layer & 0x8000) return ignore('PXE BIS (boot integrity services) is not supported');
  if (f.ciaddr === '0.0.0.0') return ignore('boot server request without ciaddr');
  const s = v.all.find((x) => x.type === item.type);
  if (!s) return ignore(`no boot service of type ${item.type}`);
  const file = s.file.includes('.') ? s.file : `${s.file}.${item.layer}`; // dnsmasq: "<basename>.<layer>" when no dot
  const echo = encodePxeOptions({ bootItem: item });
  return {
    action: 'reply',
    kind: 'ack',
    reason: `boot server: type ${item.type} (${s.menu.trimEnd()}) → ${file}`,
    bootFile: file,
    reply: {
      messageType: DHCPACK,
      yiaddr: f.ciaddr,
      ciaddr: '0.0.0.0',
      siaddr: server,
      file,
      options: [...pxeMisc(f, v), { code: OPT.VENDOR_SPECIFIC, data: echo }],
    },
  };
}

/** UEFI HTTP Boot: EDK2 takes a proxy offer with vendor class HTTPClient and a URL (UEFI 2.5+ §24.7). */
function httpOffer(f: DhcpFacts, url: string, server: string, v: ServerView): ReplyDecision {
  return {
    action: 'reply',
    kind: 'offer',
    reason: `${f.archName} HTTP Boot: ${url}`,
    bootFile: url,
    reply: {
      messageType: DHCPOFFER,
      broadcast: true,
      siaddr: server,
      file: url,
      options: [...pxeMisc(f, v, VENDOR_HTTP), { code: OPT.BOOTFILE, data: encode.string(url) }],
    },
  };
}
