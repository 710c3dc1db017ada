/**
 * PROVISIONAL: returns defaults + overrides only. The ltsp.conf parser replaces this
 * (see issue "Foundation"). The exported signatures are the contract.
 */
import { ConfigSchema, type Config, type ClientSettings } from './schema.js';

export interface ConfigWarning {
  file: string;
  line: number;
  message: string;
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

export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const configFile = opts.configFile ?? '/etc/ltsp/ltsp.conf';
  const o = opts.overrides ?? {};
  const config = ConfigSchema.parse({
    ...o,
    configFile,
    dhcp: { ...(o.dhcp ?? {}) },
    tftp: { ...(o.tftp ?? {}) },
    http: { ...(o.http ?? {}) },
  });
  return { config, warnings: [], errors: [], clientSettings: () => ({}), serverSettings: {} };
}
