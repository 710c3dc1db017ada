/**
 * LTSP lets every long option of an applet also come as an UPPER_CASE variable, from the
 * environment or from ltsp.conf ([server]/[common]); precedence, low to high: built-in
 * default, environment, ltsp.conf, command line (ltsp-behaviour.md §1.1).
 */
import type { ClientSettings } from '../config/index.js';
import { ImageError } from './errors.js';

/** The value of an LTSP variable below the command line: ltsp.conf, else the environment. */
export function ltspSetting(name: string, server: ClientSettings, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return server[name] ?? env[name];
}

/** A 0|1 flag (LTSP tests `!= 0`, so anything but "0" is on). */
export function flag01(v: string | undefined, def: boolean, what: string): boolean {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v.trim())) throw new ImageError(`${what}: expected 0 or 1, got '${v}'`);
  return v.trim() !== '0';
}
