/**
 * Shared plumbing for commands: the global options (LTSP's names), config loading with
 * the precedence flags > ltsp.conf > defaults, and the logger.
 */
import type { Command } from 'commander';
import { formatDiagnostic, loadConfig, type ConfigOverrides, type LoadedConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';

export interface GlobalOptions {
  config?: string;
  baseDir?: string;
  tftpDir?: string;
  logLevel?: string;
}

export interface CommandContext {
  loaded: LoadedConfig;
  log: Logger;
  globals: GlobalOptions;
}

/** Exit with a message on stderr (for user errors: bad flags, missing files). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export async function commandContext(cmd: Command, overrides: ConfigOverrides = {}): Promise<CommandContext> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const o: ConfigOverrides = { ...overrides };
  if (globals.baseDir) o.baseDir = globals.baseDir;
  if (globals.tftpDir) o.tftpDir = globals.tftpDir;
  if (globals.logLevel) o.logLevel = globals.logLevel as ConfigOverrides['logLevel'];
  const loaded = await loadConfig({
    configFile: globals.config ?? '/etc/ltsp/ltsp.conf',
    explicit: globals.config !== undefined,
    overrides: o,
  });
  const log = createLogger(loaded.config.logLevel);
  for (const w of loaded.warnings) log.warn(formatDiagnostic(w));
  if (loaded.errors.length > 0) {
    throw new CliError(loaded.errors.map((e) => formatDiagnostic(e)).join('\n'));
  }
  return { loaded, log, globals };
}

/** commander option parser for integer flags. */
export function intArg(name: string, min = 0, max = 65535) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`${name}: expected an integer ${min}..${max}, got '${v}'`);
    return n;
  };
}

/** commander collector for repeatable flags. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
