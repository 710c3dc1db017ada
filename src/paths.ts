/**
 * Files shipped beside the code (web/, systemd/, pcap-fixtures/, package.json). The same
 * module runs from src/ (vitest) and from dist/src/ (the CLI), so the package root is
 * found by walking up to package.json rather than by a fixed number of '..'.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('ltsp-ts: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return (root = dir);
}

export function packageFile(...parts: string[]): string {
  return path.join(packageRoot(), ...parts);
}
