/**
 * `ltsp-ts nfs [--dry-run] [--ganesha FILE] [--exports-file FILE]`: NFSv3 exports for
 * LTSP clients (LTSP's `ltsp nfs`; see src/image/nfs.ts).
 */
import type { Command } from 'commander';
import { applyNfs, DEFAULT_EXPORTS_FILE, renderExports, renderGanesha, type NfsSettings } from '../../image/nfs.js';
import { flag01, ltspSetting } from '../../image/settings.js';
import { CliError, commandContext } from '../context.js';
import { asCliError } from './image.js';

interface NfsOptions {
  dryRun?: boolean;
  ganesha?: string;
  exportsFile?: string;
  nfsHome?: string;
  nfsTftp?: string;
}

export function register(program: Command): void {
  program
    .command('nfs')
    .description('write NFSv3 exports for BASE_DIR and TFTP_DIR/ltsp, then exportfs -ra (as `ltsp nfs`)')
    .option('--dry-run', 'print what would be written; change nothing')
    .option('--ganesha <file>', 'also write an equivalent nfs-ganesha config (hosts without a kernel NFS server)')
    .option('--exports-file <file>', `exports file to write (default ${DEFAULT_EXPORTS_FILE})`)
    .option('--nfs-home <0|1>', 'also export HOME_DIR read-write (default 0; SSHFS is the default for /home)')
    .option('--nfs-tftp <0|1>', 'export TFTP_DIR/ltsp (default 1)')
    .action(async (opts: NfsOptions, cmd: Command) => {
      const { loaded, log } = await commandContext(cmd);
      const s = loaded.serverSettings;
      try {
        const settings: NfsSettings = {
          baseDir: loaded.config.baseDir,
          tftpDir: loaded.config.tftpDir,
          homeDir: loaded.config.homeDir,
          nfsHome: flag01(opts.nfsHome ?? ltspSetting('NFS_HOME', s), false, '--nfs-home'),
          nfsTftp: flag01(opts.nfsTftp ?? ltspSetting('NFS_TFTP', s), true, '--nfs-tftp'),
        };
        const exportsFile = opts.exportsFile ?? DEFAULT_EXPORTS_FILE;
        if (opts.dryRun) {
          process.stdout.write(`# would write ${exportsFile}:\n${renderExports(settings)}`);
          if (opts.ganesha) process.stdout.write(`\n# would write ${opts.ganesha}:\n${renderGanesha(settings)}`);
          return;
        }
        const r = await applyNfs(settings, { exportsFile, ganeshaFile: opts.ganesha });
        process.stdout.write(`wrote ${r.exportsFile}\n`);
        if (r.ganeshaFile) process.stdout.write(`wrote ${r.ganeshaFile}\n`);
        if (r.reload === 'no-exportfs') log.warn('exportfs not found (Debian package nfs-kernel-server): exports written but not loaded; use --ganesha on hosts without a kernel NFS server');
        if (r.reloadError) throw new CliError(`exportfs -ra failed: ${r.reloadError}`);
        if (r.reload === 'reloaded') process.stdout.write('exportfs -ra: exports reloaded\n');
      } catch (err) {
        asCliError(err);
      }
    });
}
