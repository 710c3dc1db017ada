/**
 * One build per image at a time: `images/.<name>.lock` holds the builder's pid, created
 * with O_EXCL. A lock whose pid no longer runs (a builder killed with SIGKILL) is stale
 * and taken over; a live one gives a clear error.
 */
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageError } from './errors.js';

export interface ImageLock {
  path: string;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockImage(imagesDir: string, name: string): Promise<ImageLock> {
  const path = join(imagesDir, `.${name}.lock`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return {
        path,
        release: async () => {
          await unlink(path).catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new ImageError(`image '${name}' is being built by another ltsp-ts (pid ${pid}); lock file ${path}`);
      }
      // An empty, fresh lock is another builder between creating and writing it.
      const st = await stat(path).catch(() => undefined);
      if (!(Number(pid) > 0) && st && Date.now() - st.mtimeMs < 10_000) throw new ImageError(`image '${name}' is being built by another ltsp-ts; lock file ${path}`);
      await unlink(path).catch(() => undefined); // stale: its builder is gone
    }
  }
  throw new ImageError(`could not take the lock ${path}`);
}
