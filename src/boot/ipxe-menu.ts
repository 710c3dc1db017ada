/**
 * The live iPXE menu: scan BASE_DIR now, read the ltsp.conf settings, render. Shared by
 * the HTTP service (`/ltsp/ltsp.ipxe`, per request) and `ltsp-ts ipxe` (static file), so
 * both produce the same script for the same tree and config.
 */
import type { LoadedConfig } from '../config/index.js';
import { scanBootImages, type BootImages } from './images.js';
import { renderIpxeScript, type IpxeScriptInput } from './ipxe-script.js';

export type IpxeMenuOptions = Pick<IpxeScriptInput, 'baseUrl' | 'mac' | 'decorateUrl' | 'imageUrl' | 'comments'> & {
  /** How to scan BASE_DIR (default: scanBootImages now; the HTTP service shares recent scans). */
  scan?: (baseDir: string) => Promise<BootImages>;
};

export interface IpxeMenu {
  script: string;
  /** What the scan found (skipped entries are worth a log line). */
  found: BootImages;
}

/** Scan BASE_DIR (no cache unless `opts.scan` has one) and render the script for the loaded config. */
export async function generateIpxeMenu(loaded: LoadedConfig, opts: IpxeMenuOptions = {}): Promise<IpxeMenu> {
  const { scan = scanBootImages, ...render } = opts;
  const found = await scan(loaded.config.baseDir);
  const script = renderIpxeScript({
    ...render,
    baseDir: loaded.config.baseDir,
    images: found.images,
    chroots: found.chroots,
    serverSettings: loaded.serverSettings,
    clients: loaded.macSections(),
  });
  return { script, found };
}
