/**
 * Boot timeline per client. DHCP events carry the MAC (and, once known, the client's IP:
 * ciaddr of a 4011 request, or the requested address of a REQUEST the proxy saw but does
 * not answer); TFTP and HTTP events carry only the source IP, so they are joined to the
 * MAC that the DHCP exchange revealed for that IP. Events from an IP with no known MAC
 * are kept under "ip:<addr>" until a DHCP event names it.
 */
import type { BootEvent } from '../events.js';
import { archName } from '../../protocols/dhcp/index.js';

/** Which boot step an event is, for the dashboard: DHCP → firmware NBP → script → kernel → initrd → image. */
export type BootStage = 'dhcp' | 'nbp' | 'script' | 'kernel' | 'initrd' | 'image' | 'file';

export interface TimelineEntry extends BootEvent {
  stage: BootStage;
  /** ms since this client's first event */
  offsetMs: number;
  /** How many identical DHCP events in a row this entry stands for (retries, storms). */
  repeats?: number;
}

export interface ClientTimeline {
  id: string;
  mac?: string;
  ip?: string;
  arch?: string;
  firstSeen: number;
  lastSeen: number;
  /** The furthest boot stage reached so far. */
  stage: BootStage;
  bytes: number;
  entries: TimelineEntry[];
}

const STAGE_ORDER: BootStage[] = ['dhcp', 'file', 'nbp', 'script', 'kernel', 'initrd', 'image'];

export function stageOf(e: BootEvent): BootStage {
  if (e.service === 'dhcp') return 'dhcp';
  const f = (e.file ?? '').toLowerCase();
  if (/\.(kpxe|efi|pxe|0)$/.test(f) || f.endsWith('undionly.kpxe')) return 'nbp';
  if (f.endsWith('.ipxe')) return 'script';
  if (/(^|\/)(vmlinuz|linux|bzimage)[^/]*$/.test(f)) return 'kernel';
  if (/(^|\/)(initrd[^/]*|ltsp\.img|initramfs[^/]*)$/.test(f)) return 'initrd';
  if (/images\/[^/]+\.img$/.test(f)) return 'image';
  return 'file';
}

export class BootTimeline {
  private readonly clients = new Map<string, ClientTimeline>();
  private readonly macByIp = new Map<string, string>();

  constructor(private readonly maxClients = 500, private readonly maxEntries = 200) {}

  record(e: BootEvent): void {
    const mac = e.mac?.toLowerCase();
    const ip = e.ip && e.ip !== '0.0.0.0' ? e.ip : undefined;
    if (mac && ip) this.learn(mac, ip);
    const id = mac ?? (ip && this.macByIp.get(ip)) ?? (ip ? `ip:${ip}` : undefined);
    if (!id) return;
    let c = this.clients.get(id);
    if (!c) {
      c = { id, firstSeen: e.time, lastSeen: e.time, stage: 'dhcp', bytes: 0, entries: [] };
      if (id.startsWith('ip:')) c.ip = ip;
      else c.mac = id;
      this.clients.set(id, c);
      this.evict();
    }
    if (ip) c.ip = ip;
    const arch = e.detail?.['arch'];
    if (typeof arch === 'string') c.arch = arch;
    else if (typeof arch === 'number') c.arch = archName(arch);
    const stage = stageOf(e);
    if (c.entries.length === 0 || STAGE_ORDER.indexOf(stage) > STAGE_ORDER.indexOf(c.stage)) c.stage = stage;
    c.lastSeen = Math.max(c.lastSeen, e.time);
    c.bytes += e.bytes ?? 0;
    // A client retrying DHCP (or a flood) repeats the same decision: count it on the last
    // entry instead of keeping a copy per packet.
    const last = c.entries[c.entries.length - 1];
    if (e.service === 'dhcp' && last?.service === 'dhcp' && last.kind === e.kind && last.file === e.file && last.outcome === e.outcome && e.time >= last.time) {
      last.repeats = (last.repeats ?? 1) + 1;
      return;
    }
    // Events merged from an IP-only record may be older than this client's first event.
    if (e.time < c.firstSeen) {
      c.firstSeen = e.time;
      for (const x of c.entries) x.offsetMs = x.time - c.firstSeen;
    }
    let at = c.entries.length;
    while (at > 0 && c.entries[at - 1]!.time > e.time) at--;
    c.entries.splice(at, 0, { ...e, stage, offsetMs: e.time - c.firstSeen });
    if (c.entries.length > this.maxEntries) c.entries.splice(0, c.entries.length - this.maxEntries);
  }

  /** Clients, most recently active first. */
  list(): ClientTimeline[] {
    return [...this.clients.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  }

  get(id: string): ClientTimeline | undefined {
    return this.clients.get(id.toLowerCase());
  }

  /** A MAC now owns an IP: move events recorded under "ip:<addr>" to it. */
  private learn(mac: string, ip: string): void {
    if (this.macByIp.get(ip) === mac) return;
    this.macByIp.set(ip, mac);
    const orphan = this.clients.get(`ip:${ip}`);
    if (!orphan) return;
    this.clients.delete(orphan.id);
    for (const entry of orphan.entries) this.record({ ...entry, mac });
  }

  private evict(): void {
    if (this.clients.size <= this.maxClients) return;
    const oldest = [...this.clients.values()].sort((a, b) => a.lastSeen - b.lastSeen)[0];
    if (oldest) this.clients.delete(oldest.id);
  }
}

/** One line per event, for the demo and logs: "+0.012s dhcp offer ltsp/undionly.kpxe". */
export function formatTimeline(c: ClientTimeline): string {
  const head = `${c.mac ?? c.id}${c.ip ? ` (${c.ip})` : ''}${c.arch ? ` ${c.arch}` : ''}: reached ${c.stage}, ${c.bytes} bytes`;
  const lines = c.entries.map((e) => {
    const t = `+${(e.offsetMs / 1000).toFixed(3)}s`.padStart(9);
    const what = [e.service.padEnd(4), e.kind.padEnd(8), e.file ?? '', e.bytes !== undefined ? `${e.bytes} B` : '', e.durationMs !== undefined ? `${e.durationMs.toFixed(1)} ms` : '', e.outcome ?? '']
      .filter(Boolean)
      .join(' ');
    return `  ${t}  [${e.stage}] ${what}${e.repeats ? ` (x${e.repeats})` : ''}`;
  });
  return [head, ...lines].join('\n');
}
