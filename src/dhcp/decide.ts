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
import { bootFileKey } from '../config/keys.js';
import { allServices, firmwareFile, httpUrl, ipxeScript, isAllowed, servicesFor, type DhcpPolicy } from './policy.js';

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

export function decide(f: DhcpFacts, policy: DhcpPolicy, server: string): Decision {
  if (f.op !== BOOTREQUEST) return ignore('not a BOOTREQUEST');
  if (!f.isPXE && !f.isHTTPClient) return ignore(`not a PXE client (vendor class ${f.vendorClass === undefined ? 'absent' : `'${f.vendorClass}'`})`);
  if (f.arch === undefined) return ignore('no client architecture (option 93)');
  if (!isAllowed(f.mac, policy.allowClients)) return ignore('MAC not in ALLOWED_CLIENTS');
  const settings = policy.clientSettings(f.mac);
  const onPxePort = f.dstPort === policy.pxePort;
  const type = f.messageType;
  if (f.bootItem && (type === DHCPREQUEST || type === DHCPINFORM)) return bootServerAck(f, allServices(policy, settings, server), server);
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
    return httpOffer(f, /^https?:\/\//.test(file) ? file : httpUrl(server, policy.http.port, file), server);
  }
  const extra: DhcpOption[] = [];
  // iPXE's ltsp.ipxe picks `${root-path}` as its image: hand it the client's DEFAULT_IMAGE.
  if (f.ipxeCapable && settings.DEFAULT_IMAGE) extra.push({ code: OPT.ROOT_PATH, data: encode.string(settings.DEFAULT_IMAGE) });
  return proxyReply(f, file, onPxePort, server, servicesFor(f, allServices(policy, settings, server)), extra);
}

/** Options 54, 60 and the echoed 97 that every proxy reply carries (dnsmasq pxe_misc). */
function pxeMisc(f: DhcpFacts, server: string, vendor = 'PXEClient'): DhcpOption[] {
  const out: DhcpOption[] = [{ code: OPT.SERVER_ID, data: encode.ip(server) }, { code: OPT.VENDOR_CLASS, data: encode.string(vendor) }];
  // dnsmasq echoes 97 only when it is at least 17 bytes, and then exactly 17.
  if (f.guidOption && f.guidOption.length >= 34) out.push({ code: OPT.CLIENT_GUID, data: new Uint8Array(Buffer.from(f.guidOption.slice(0, 34), 'hex')) });
  return out;
}

/** Port 67 OFFER / PXE-port ACK. */
function proxyReply(f: DhcpFacts, file: string, onPxePort: boolean, server: string, services: ReturnType<typeof servicesFor>, extra: DhcpOption[]): ReplyDecision {
  const arch = f.arch!;
  const workaround = arch >= 6 && arch !== 9; // UEFI: one menu entry → file only on the PXE port
  const options = pxeMisc(f, server);
  if (arch < 6 || (onPxePort && !workaround)) {
    options.push({
      code: OPT.VENDOR_SPECIFIC,
      data: encodePxeOptions({
        discoveryControl: services.length ? 3 : 8, // 3: no broadcast/multicast discovery; 8: just boot the file
        prompt: { timeout: services.length > 1 ? 255 : 0, text: 'PXE' },
        bootServers: services.length ? services.map((s) => ({ type: s.type, ips: [server] })) : undefined,
        menu: services.length ? services.map((s) => ({ type: s.type, description: s.menu })) : undefined,
      }),
    });
  }
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
      options: [...options, ...extra],
    },
  };
}

/** Boot server discovery (PXE 2.1 §2.2.6): the client asks for a menu item by boot type. */
function bootServerAck(f: DhcpFacts, services: ReturnType<typeof allServices>, server: string): Decision {
  const item = f.bootItem!;
  if (item.layer & 0x8000) return ignore('PXE BIS (boot integrity services) is not supported');
  if (f.ciaddr === '0.0.0.0') return ignore('boot server request without ciaddr');
  const s = services.find((x) => x.type === item.type);
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
      options: [...pxeMisc(f, server), { code: OPT.VENDOR_SPECIFIC, data: echo }],
    },
  };
}

/** UEFI HTTP Boot: EDK2 takes a proxy offer with vendor class HTTPClient and a URL (UEFI 2.5+ §24.7). */
function httpOffer(f: DhcpFacts, url: string, server: string): ReplyDecision {
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
      options: [...pxeMisc(f, server, 'HTTPClient'), { code: OPT.BOOTFILE, data: encode.string(url) }],
    },
  };
}
