/**
 * iPXE and memtest binaries for TFTP_DIR/ltsp/, as LTSP's `ltsp ipxe` copy_binary: for
 * each target the first existing source wins; copied with mode 644 (via a temporary file
 * and a rename). `binaries` follows LTSP's --binaries: undefined = install only missing
 * files, true = reinstall, false = skip. A missing iPXE binary is an error, a missing
 * memtest a warning.
 */
import { chmod, copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ImageError } from './errors.js';

export interface BinarySpec {
  target: string;
  /** Candidate paths; a `*` in the last component is a glob (sorted, first match). */
  sources: string[];
  required: boolean;
}

export const IPXE_BINARIES: readonly BinarySpec[] = [
  { target: 'undionly.kpxe', sources: ['/usr/share/ltsp/binaries/undionly.kpxe', '/usr/lib/ipxe/undionly.kpxe'], required: true },
  { target: 'snponly.efi', sources: ['/usr/share/ltsp/binaries/snponly.efi', '/usr/lib/ipxe/snponly.efi', '/usr/lib/ipxe/ipxe.efi'], required: true },
  { target: 'memtest.0', sources: ['/usr/share/ltsp/binaries/memtest.0', '/boot/memtest86+*32.bin', '/boot/memtest86+.bin'], required: false },
  { target: 'memtest.efi', sources: ['/usr/share/ltsp/binaries/memtest.efi', '/boot/memtest86+x64.efi'], required: false },
];

export interface BinaryOutcome {
  target: string;
  action: 'installed' | 'kept' | 'skipped' | 'missing';
  source?: string;
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}

/** First existing source; `sysroot` prefixes every candidate (tests use a fake tree). */
export async function findBinarySource(spec: BinarySpec, sysroot = '/'): Promise<string | undefined> {
  for (const cand of spec.sources) {
    const full = join(sysroot, cand);
    const name = basename(full);
    if (!name.includes('*')) {
      if (await isFile(full)) return full;
      continue;
    }
    const [pre, post] = name.split('*') as [string, string];
    const entries = (await readdir(dirname(full)).catch(() => [] as string[])).filter((e) => e.startsWith(pre) && e.endsWith(post) && e.length >= pre.length + post.length).sort();
    for (const e of entries) if (await isFile(join(dirname(full), e))) return join(dirname(full), e);
  }
  return undefined;
}

export async function installIpxeBinaries(tftpDir: string, opts: { binaries?: boolean; sysroot?: string } = {}): Promise<BinaryOutcome[]> {
  const dir = join(tftpDir, 'ltsp');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const out: BinaryOutcome[] = [];
  const missing: string[] = [];
  for (const spec of IPXE_BINARIES) {
    const dest = join(dir, spec.target);
    if (opts.binaries === false) {
      out.push({ target: spec.target, action: 'skipped' });
      continue;
    }
    if (opts.binaries === undefined && (await isFile(dest))) {
      out.push({ target: spec.target, action: 'kept' });
      continue;
    }
    const src = await findBinarySource(spec, opts.sysroot);
    if (!src) {
      out.push({ target: spec.target, action: 'missing' });
      if (spec.required) missing.push(`${spec.target} (looked for ${spec.sources.join(', ')})`);
      continue;
    }
    const tmp = `${dest}.tmp-${process.pid}`;
    try {
      await copyFile(src, tmp);
      await chmod(tmp, 0o644);
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { force: true });
    }
    out.push({ target: spec.target, action: 'installed', source: src });
  }
  if (missing.length) throw new ImageError(`missing iPXE binaries: ${missing.join('; ')}. Install the Debian package 'ipxe' (apt-get install ipxe)`);
  return out;
}
