/**
 * Loading the configuration: built-in defaults < /etc/ltsp/ltsp.conf ([common] then
 * [server]) < command-line flags. The file is parsed by our own ltsp.conf reader
 * (ltsp-conf.ts), evaluated as LTSP does (resolve.ts) and validated into the typed Config
 * (schema.ts); keys are listed in keys.ts and README ("ltsp.conf keys").
 *
 * Never throws on a bad file: problems come back as `warnings` (not understood, ignored)
 * and `errors` (bad values, broken syntax, unreadable file given explicitly), each with
 * file and line, and `config` still holds a usable value (defaults where a value was bad).
 */
import { readFile } from 'node:fs/promises';
import { ConfigSchema, type Config, type ClientSettings } from './schema.js';
import { parseLtspConf, type LtspConf } from './ltsp-conf.js';
import { plain, resolveClient, resolveMacSections, resolveServer, type SettingMap } from './resolve.js';
import { BOOT_FILE_PREFIX, KEY_SPECS, archForBootFileKey } from './keys.js';

export interface ConfigWarning {
  file: string;
  line: number;
  message: string;
}

/** A literal `[<MAC>]` section and what it sets itself (INCLUDEs expanded), for the iPXE menu. */
export interface MacSection {
  /** Lower-case `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Line of the section header. */
  line: number;
  settings: ClientSettings;
}

export interface LoadedConfig {
  config: Config;
  /** Lines not understood, unknown keys, ... (never fatal). */
  warnings: ConfigWarning[];
  /** Fatal problems (bad values, unreadable file given explicitly): the caller exits 1. */
  errors: ConfigWarning[];
  /** Settings for one client, resolved as LTSP does ([clients]/[common] < globs < MAC/IP). */
  clientSettings(mac?: string, ip?: string, hostname?: string): ClientSettings;
  /** [server] + [common] settings as raw KEY=value (for IPXE_* titles etc.). */
  serverSettings: ClientSettings;
  /**
   * Literal MAC sections in file order, evaluated as `ltsp ipxe` does (only what the
   * section and its INCLUDEs assign; glob sections are not listed).
   */
  macSections(): MacSection[];
  /** The parsed file (sections, headers), for diagnostics. */
  ltspConf: LtspConf;
}

/** Overrides from command-line flags, in Config shape (deep-partial). */
export type ConfigOverrides = {
  [K in keyof Config]?: Config[K] extends object ? Partial<Config[K]> : Config[K];
};

export interface LoadOptions {
  configFile?: string;
  /** True when the user named the file with --config: then a missing file is an error. */
  explicit?: boolean;
  overrides?: ConfigOverrides;
}

export const DEFAULT_CONFIG_FILE = '/etc/ltsp/ltsp.conf';
/** The `file` of problems that come from command-line flags. */
export const COMMAND_LINE = '<command line>';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function setPath(target: Obj, path: readonly (string | number)[], value: unknown): void {
  let o = target;
  for (const k of path.slice(0, -1)) {
    const key = String(k);
    if (!isObj(o[key])) o[key] = {};
    o = o[key] as Obj;
  }
  o[String(path[path.length - 1])] = value;
}

function getPath(source: unknown, path: readonly PropertyKey[]): unknown {
  let o: unknown = source;
  for (const k of path) {
    if (!isObj(o)) return undefined;
    o = o[String(k)];
  }
  return o;
}

function deletePath(target: Obj, path: readonly PropertyKey[]): void {
  const parent = getPath(target, path.slice(0, -1));
  if (isObj(parent)) delete parent[String(path[path.length - 1])];
}

/** Deep merge of plain objects; arrays and scalars of `over` replace. */
function merge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Obj, v) : v;
  }
  return out;
}

interface Origin {
  key: string;
  line: number;
}

/** Turn the server settings into Config values, with the line each came from. */
function fileValues(server: SettingMap, file: string, warnings: ConfigWarning[], errors: ConfigWarning[]) {
  const values: Obj = {};
  const origins = new Map<string, Origin>();
  for (const spec of KEY_SPECS) {
    const s = server.get(spec.key);
    if (!s) continue;
    const r = spec.parse(s.value);
    if (!r.ok) {
      errors.push({ file, line: s.line, message: `${spec.key}: ${r.message}` });
      continue;
    }
    setPath(values, spec.path, r.value);
    origins.set(spec.path.join('.'), { key: spec.key, line: s.line });
  }
  for (const [key, s] of server) {
    if (!key.startsWith(BOOT_FILE_PREFIX)) continue;
    const arch = archForBootFileKey(key.slice(BOOT_FILE_PREFIX.length));
    if (!arch) {
      warnings.push({ file, line: s.line, message: `${key}: unknown architecture; ignored (names as in README "ltsp.conf keys", e.g. BOOT_FILE_EFI_X64)` });
      continue;
    }
    setPath(values, ['dhcp', 'bootFiles', arch], s.value.trim());
    origins.set(`dhcp.bootFiles.${arch}`, { key, line: s.line });
  }
  // LTSP's dnsmasq switches: -p0 -r0 ("TFTP only, an external DHCP boots the clients").
  const proxy = server.get('PROXY_DHCP');
  const real = server.get('REAL_DHCP');
  if (!server.has('DHCP_MODE') && (proxy || real)) {
    if (proxy?.value.trim() === '0' && real?.value.trim() === '0') {
      setPath(values, ['dhcp', 'mode'], 'off');
      origins.set('dhcp.mode', { key: 'PROXY_DHCP', line: proxy.line });
    } else {
      const s = (proxy ?? real)!;
      warnings.push({ file, line: s.line, message: 'PROXY_DHCP/REAL_DHCP are read only as "both 0 = DHCP off"; set DHCP_MODE=proxy|full|off' });
    }
  }
  return { values, origins };
}

/** Validate file values + overrides; bad values become errors and fall back to defaults. */
function validate(
  values: Obj,
  overrides: ConfigOverrides,
  configFile: string,
  origins: Map<string, Origin>,
  errors: ConfigWarning[],
): Config {
  const merged = merge(values, overrides as Obj);
  merged.configFile = configFile;
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = ConfigSchema.safeParse(merged);
    if (r.success) return r.data;
    for (const issue of r.error.issues) {
      const path = issue.path;
      const dotted = path.map(String).join('.');
      const fromFlags = getPath(overrides, path) !== undefined;
      const origin = [...origins].find(([p]) => dotted === p || dotted.startsWith(`${p}.`))?.[1];
      if (fromFlags || !origin) errors.push({ file: COMMAND_LINE, line: 0, message: `${dotted || 'config'}: ${issue.message}` });
      else errors.push({ file: configFile, line: origin.line, message: `${origin.key}: ${issue.message}` });
      if (path.length === 0) return ConfigSchema.parse({ configFile });
      deletePath(merged, path);
    }
  }
  return ConfigSchema.parse({ configFile });
}

/** Build the loaded config from ltsp.conf text (pure apart from nothing: no I/O). */
export function loadConfigText(text: string, opts: { configFile?: string; overrides?: ConfigOverrides } = {}): LoadedConfig {
  const file = opts.configFile ?? DEFAULT_CONFIG_FILE;
  const conf = parseLtspConf(text);
  const warnings: ConfigWarning[] = conf.warnings.map((d) => ({ file, ...d }));
  const errors: ConfigWarning[] = conf.errors.map((d) => ({ file, ...d }));
  const server = resolveServer(conf);
  const { values, origins } = fileValues(server, file, warnings, errors);
  const config = validate(values, opts.overrides ?? {}, file, origins, errors);
  errors.sort((a, b) => a.line - b.line);
  return {
    config,
    warnings,
    errors,
    clientSettings: (mac, ip, hostname) => plain(resolveClient(conf, mac, ip, hostname)),
    serverSettings: plain(server),
    macSections: () =>
      resolveMacSections(conf, server).map((m) => ({ mac: m.mac, line: m.line, settings: plain(m.settings) })),
    ltspConf: conf,
  };
}

export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const configFile = opts.configFile ?? DEFAULT_CONFIG_FILE;
  let text = '';
  let readError: string | undefined;
  try {
    text = await readFile(configFile, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // LTSP: ltsp.conf is optional. Only a file the user named must exist.
    if (e.code !== 'ENOENT' || opts.explicit) {
      readError = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : `cannot read (${e.code ?? e.message})`;
    }
  }
  const loaded = loadConfigText(text, { configFile, overrides: opts.overrides });
  if (readError) loaded.errors.unshift({ file: configFile, line: 0, message: readError });
  return loaded;
}

/** `file:line: message` (no `:line` for file-level problems such as a missing file). */
export function formatDiagnostic(d: ConfigWarning, kind?: string): string {
  return `${d.file}${d.line > 0 ? `:${d.line}` : ''}: ${kind ? `${kind}: ` : ''}${d.message}`;
}
