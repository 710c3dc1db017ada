/**
 * Evaluating a parsed ltsp.conf the way LTSP's `section_call` does: sections run in a
 * fixed order, each at most once per evaluation (ini2sh's recursion guard, which also
 * makes a second INCLUDE of the same section a no-op), INCLUDE runs the named section
 * in place, later assignments win, `$VAR` expands to the value assigned so far.
 *
 * Orders:
 *   - server: unnamed → [common] → [server];
 *   - client: unnamed → [clients] → [common] → matching glob sections (MAC, IP) →
 *     exact MAC → exact IP → hostname sections (globs, then exact). The hostname is the
 *     HOSTNAME a MAC/IP section set, else the one given (LTSP: "MAC/IP sections are
 *     allowed to set HOSTNAME").
 *
 * One deliberate difference: LTSP's `case` statement runs only the FIRST header (in file
 * order) that matches the MAC, then the first that matches the IP. ltsp-ts runs every
 * matching section, globs before exact names, so `[aa:bb:cc:dd:ee:ff]` always beats
 * `[aa:bb:cc:*]` whatever their order in the file. With one match per key (the usual
 * file) both give the same result.
 */
import { isGlobPattern, matchPattern, type LtspConf, type Section } from './ltsp-conf.js';

/** A resolved value and where it was assigned. */
export interface Setting {
  value: string;
  line: number;
  section: string;
}

export type SettingMap = Map<string, Setting>;

/** Section names that are called by name only, never matched against a MAC/IP/hostname. */
const RESERVED = new Set(['unnamed', 'common', 'clients', 'server']);

/** `aa:bb:cc:dd:ee:ff` (lower-case) — a literal MAC section. */
export const LITERAL_MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export class Evaluator {
  readonly env: SettingMap;
  private readonly called = new Set<string>();
  /** Keys assigned by this evaluator (not inherited). */
  readonly assigned = new Set<string>();

  constructor(private readonly conf: LtspConf, initial?: SettingMap, alreadyCalled: Iterable<string> = []) {
    this.env = new Map(initial ?? []);
    for (const id of alreadyCalled) this.called.add(id);
  }

  /** Run a section by id (no-op when missing or already run). */
  run(id: string): void {
    const section = this.conf.sections.get(id);
    if (!section || this.called.has(id)) return;
    this.called.add(id);
    this.exec(section);
  }

  private exec(section: Section): void {
    for (const st of section.statements) {
      if (st.kind === 'include') {
        this.run(st.target);
        continue;
      }
      const value = st.value.map((p) => ('text' in p ? p.text : (this.env.get(p.ref)?.value ?? ''))).join('');
      this.env.set(st.key, { value, line: st.line, section: section.id });
      this.assigned.add(st.key);
    }
  }

  /** Sections whose header matches `key` (MAC/IP/hostname), split into globs and exact ones, in file order. */
  matching(key: string): { globs: string[]; exact: string[] } {
    const globs: string[] = [];
    const exact: string[] = [];
    for (const h of this.conf.headers) {
      if (RESERVED.has(h.pattern) || h.pattern.includes('/')) continue;
      if (!matchPattern(h.pattern, key)) continue;
      const list = isGlobPattern(h.pattern) ? globs : exact;
      if (!list.includes(h.id)) list.push(h.id);
    }
    return { globs, exact };
  }
}

/** Normalize a MAC to lower-case `aa:bb:...` (accepts `-` separators). */
export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase().replace(/-/g, ':');
}

export function resolveServer(conf: LtspConf): SettingMap {
  const ev = new Evaluator(conf);
  for (const id of ['unnamed', 'common', 'server']) ev.run(id);
  return ev.env;
}

export function resolveClient(conf: LtspConf, mac?: string, ip?: string, hostname?: string): SettingMap {
  const ev = new Evaluator(conf);
  for (const id of ['unnamed', 'clients', 'common']) ev.run(id);
  const keys = [mac ? normalizeMac(mac) : undefined, ip?.trim()].filter((k): k is string => Boolean(k));
  const matches = keys.map((k) => ev.matching(k));
  for (const m of matches) m.globs.forEach((id) => ev.run(id));
  for (const m of matches) m.exact.forEach((id) => ev.run(id));
  const host = (ev.env.get('HOSTNAME')?.value || hostname || '').trim().toLowerCase();
  if (host) {
    const m = ev.matching(host);
    m.globs.forEach((id) => ev.run(id));
    m.exact.forEach((id) => ev.run(id));
  }
  return ev.env;
}

/** Keys LTSP's `client_sections` unsets before running a MAC section for the iPXE menu. */
const IPXE_CLIENT_KEYS = ['DEFAULT_IMAGE', 'KERNEL_PARAMETERS', 'MENU_TIMEOUT', 'HOSTNAME'];

export interface MacSectionSettings {
  mac: string;
  line: number;
  /** What the section itself (and its INCLUDEs) assigns, evaluated on top of the server settings. */
  settings: SettingMap;
}

/**
 * Literal MAC sections in file order, each evaluated as `ltsp ipxe` does: in a copy of
 * the server settings with DEFAULT_IMAGE/KERNEL_PARAMETERS/MENU_TIMEOUT/HOSTNAME unset,
 * with unnamed/common/server counted as already run; only the keys the section assigns
 * are returned.
 */
export function resolveMacSections(conf: LtspConf, server: SettingMap): MacSectionSettings[] {
  const base = new Map(server);
  for (const k of IPXE_CLIENT_KEYS) base.delete(k);
  const out: MacSectionSettings[] = [];
  const seen = new Set<string>();
  for (const h of conf.headers) {
    if (!LITERAL_MAC.test(h.pattern) || seen.has(h.id)) continue;
    seen.add(h.id);
    const ev = new Evaluator(conf, base, ['unnamed', 'common', 'server']);
    ev.run(h.id);
    const settings: SettingMap = new Map();
    for (const k of ev.assigned) settings.set(k, ev.env.get(k)!);
    out.push({ mac: h.pattern, line: conf.sections.get(h.id)?.line ?? h.line, settings });
  }
  return out;
}

/** Plain KEY → value view of a SettingMap. */
export function plain(map: SettingMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of map) out[k] = v.value;
  return out;
}
