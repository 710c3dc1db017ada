/**
 * `ltsp-ts config`: the resolved configuration (defaults < ltsp.conf < flags), the
 * ltsp.conf sections, optionally one client's settings, and every warning/error as
 * `file:line: message`. Exit code 1 when the config has errors.
 */
import type { Command } from 'commander';
import { loadConfig, DEFAULT_CONFIG_FILE, formatDiagnostic, type ConfigOverrides, type LoadedConfig } from '../../config/index.js';
export { formatDiagnostic } from '../../config/index.js';
import type { GlobalOptions } from '../context.js';

interface ConfigOptions extends GlobalOptions {
  json?: boolean;
  client?: string;
  ip?: string;
  hostname?: string;
}

/** `file:line: message` (no line for whole-file problems). */

/** The config for printing: secrets are not shown. */
function printable(loaded: LoadedConfig): Record<string, unknown> {
  const c = structuredClone(loaded.config) as Record<string, unknown> & { http: Record<string, unknown> };
  if (c.http.tokenSecret !== undefined) c.http.tokenSecret = '(set)';
  return c;
}

/** ltsp.conf values that must not end up in terminals or logs (HTTP_TOKEN_SECRET, PASSWORDS_*). */
const SECRET_KEY = /SECRET|PASSWORD/i;
function redact(settings: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, SECRET_KEY.test(k) ? '(set)' : v]));
}

function flatten(value: unknown, prefix: string, out: string[]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.push(`${prefix} = {}`);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value)) {
    out.push(`${prefix} = [${value.map(String).join(', ')}]`);
  } else {
    out.push(`${prefix} = ${value === undefined ? '' : String(value)}`);
  }
}

export function register(program: Command): void {
  program
    .command('config')
    .description('print the resolved configuration (defaults < ltsp.conf < flags) and its warnings')
    .option('--json', 'print JSON')
    .option('--client <mac>', "also resolve this client's settings as LTSP does")
    .option('--ip <address>', 'the client IP for --client')
    .option('--hostname <name>', 'the client hostname for --client')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConfigOptions;
      const overrides: ConfigOverrides = {};
      if (g.baseDir) overrides.baseDir = g.baseDir;
      if (g.tftpDir) overrides.tftpDir = g.tftpDir;
      if (g.logLevel) overrides.logLevel = g.logLevel as ConfigOverrides['logLevel'];
      const loaded = await loadConfig({ configFile: g.config ?? DEFAULT_CONFIG_FILE, explicit: g.config !== undefined, overrides });
      const client = g.client ? redact(loaded.clientSettings(g.client, g.ip, g.hostname)) : undefined;
      const sections = loaded.ltspConf.headers.map((h) => ({ section: h.pattern, line: h.line }));

      for (const w of loaded.warnings) process.stderr.write(`${formatDiagnostic(w, 'warning')}\n`);
      for (const e of loaded.errors) process.stderr.write(`${formatDiagnostic(e)}\n`);
      if (loaded.errors.length > 0) process.exitCode = 1;

      if (g.json) {
        const out = {
          config: printable(loaded),
          serverSettings: redact(loaded.serverSettings),
          sections,
          macSections: loaded.macSections().map((m) => ({ ...m, settings: redact(m.settings) })),
          ...(client ? { client: { mac: g.client, ip: g.ip, hostname: g.hostname, settings: client } } : {}),
          warnings: loaded.warnings,
          errors: loaded.errors,
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const lines: string[] = [`# ${loaded.config.configFile}`];
      flatten(printable(loaded), '', lines);
      if (sections.length > 0) {
        lines.push('', '# ltsp.conf sections');
        for (const s of sections) lines.push(`[${s.section}]  (line ${s.line})`);
      }
      if (client) {
        lines.push('', `# client ${g.client}${g.ip ? ` ${g.ip}` : ''}${g.hostname ? ` ${g.hostname}` : ''}`);
        for (const [k, v] of Object.entries(client)) lines.push(`${k}=${JSON.stringify(v)}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
