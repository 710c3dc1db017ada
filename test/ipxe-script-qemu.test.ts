/**
 * The generated menu run by a real iPXE (Debian's ipxe.lkrn under QEMU, no network card:
 * nothing leaves the process). The script is the iPXE "initrd" of the lkrn, so iPXE executes
 * it at start-up; kernel downloads then fail (no network), which exercises the guarded path
 * to `:failed`. We read the VGA text screen (0xb8000) through the QEMU monitor's `pmemsave`.
 *
 * This proves what no syntax checker can: iPXE parses every line, `goto ${mac}` finds the
 * per-MAC label, MENU_TIMEOUT=-1 skips the
 * menu (LTSP's unguarded `iseq ${menu-timeout} -1` does not: iPXE takes `-1` for an option),
 * and a chroot DEFAULT_IMAGE reaches `:r_<name>`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderIpxeScript, type IpxeScriptInput } from '../src/boot/ipxe-script.js';

const LKRN = '/usr/lib/ipxe/ipxe.lkrn';
const QEMU = 'qemu-system-x86_64';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-qemu-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Make `:failed` print a marker with the state we want to check, then wait. */
function instrument(script: string): string {
  const failed = ':failed\necho Booting failed, dropping to shell\ngoto shell';
  expect(script).toContain(failed);
  return script.replace(failed, ':failed\necho CF-FAILED img=${img} CF-CMDLINE ${cmdline} CF-END\nsleep 600 ||');
}

function monitor(sock: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error('monitor timeout'));
    }, 5000);
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('connect', () => c.write(`${command}\n`));
    let seen = '';
    c.on('data', (d) => {
      // HMP prints a prompt on connect and another once the command is done.
      seen += d.toString();
      if (seen.split('(qemu)').length > 2) {
        clearTimeout(timer);
        c.end();
        resolve();
      }
    });
  });
}

/** Boot iPXE with the script; return the text screen once `until` appears (or at the deadline). */
async function runInIpxe(name: string, script: string, until: RegExp, mac?: string, deadlineMs = 45000): Promise<string> {
  const scriptFile = join(dir, `${name}.ipxe`);
  const sock = join(dir, `${name}.sock`);
  const dump = join(dir, `${name}.vga`);
  writeFileSync(scriptFile, script);
  const q: ChildProcess = spawn(
    QEMU,
    // With a MAC: an e1000 on QEMU's user network with restrict=on (nothing leaves QEMU);
    // the script never opens it, it only reads ${mac}.
    ['-kernel', LKRN, '-initrd', scriptFile, '-nic', mac ? `user,restrict=on,model=e1000,mac=${mac}` : 'none', '-display', 'none', '-m', '128', '-no-reboot',
      '-monitor', `unix:${sock},server,nowait`],
    { stdio: 'ignore' },
  );
  let screen = '';
  try {
    const start = Date.now();
    while (Date.now() - start < deadlineMs) {
      await new Promise((r) => setTimeout(r, 700));
      if (q.exitCode !== null) throw new Error(`qemu exited with ${q.exitCode}`);
      if (!existsSync(sock)) continue;
      try {
        await monitor(sock, `pmemsave 0xb8000 4000 "${dump}"`); // quoted: HMP reads a bare /x as a division
      } catch {
        continue;
      }
      if (!existsSync(dump)) continue;
      const vga = readFileSync(dump);
      // 80x25 text mode: character, attribute pairs. Rows are joined without newlines so a
      // line wrapped at column 80 reads as one.
      screen = Array.from({ length: 2000 }, (_, i) => String.fromCharCode(vga[i * 2] || 32)).join('');
      if (until.test(screen)) break;
    }
  } finally {
    q.kill('SIGKILL');
  }
  return screen;
}

const base: IpxeScriptInput = { baseDir: '/srv/ltsp', images: ['x86_32', 'x86_64'], chroots: ['bionic'] };

describe.skipIf(!existsSync(LKRN))('generated ltsp.ipxe in a real iPXE (ipxe.lkrn under QEMU, no NIC)', () => {
  it.concurrent('MENU_TIMEOUT=-1 boots the default image without the menu; failures are guarded', async () => {
    const script = instrument(renderIpxeScript({ ...base, serverSettings: { MENU_TIMEOUT: '-1' } }));
    const screen = await runInIpxe('hidden', script, /CF-END/);
    expect(screen).toContain('CF-FAILED img=x86_64'); // QEMU's CPU has long mode: cpuid picked x86_64
    expect(screen).toContain('ltsp.image=images/x86_64.img loop.max_part=9');
    expect(screen).not.toMatch(/Unrecognised option|Usage:|not found/);
  }, 60000);

  it.concurrent('goto ${mac} reaches the per-MAC section (lower-case label), which sets img and cmdline_client', async () => {
    const script = instrument(
      renderIpxeScript({
        ...base,
        clients: [
          { mac: 'AA:BB:CC:DD:EE:01', settings: { DEFAULT_IMAGE: 'x86_32' } },
          { mac: '52:54:00:AB:CD:02', settings: { DEFAULT_IMAGE: 'bionic', MENU_TIMEOUT: '-1', KERNEL_PARAMETERS: 'nomodeset', HOSTNAME: 'pc02' } },
        ],
      }),
    );
    const screen = await runInIpxe('permac', script, /CF-END/, '52:54:00:ab:cd:02');
    expect(screen).toContain('CF-FAILED img=bionic');
    expect(screen).toMatch(/BOOTIF=01-52-54-00-ab-cd-02 +nomodeset/);
    expect(screen).not.toMatch(/Unrecognised option|Usage:/);
  }, 60000);

  it.concurrent("LTSP's own line `iseq ${menu-timeout} -1` fails in iPXE (why we write `iseq --`)", async () => {
    const ours = renderIpxeScript({ ...base, serverSettings: { MENU_TIMEOUT: '-1' } });
    const ltsps = ours.replace('iseq -- ${menu-timeout} -1', 'iseq ${menu-timeout} -1');
    expect(ltsps).not.toBe(ours);
    const screen = await runInIpxe('ltsp-iseq', instrument(ltsps), /Unrecognised option "-1"[\s\S]*iPXE>|CF-END/);
    expect(screen).toContain('Unrecognised option "-1"');
    expect(screen).not.toContain('CF-FAILED img=x86_64');
  }, 60000);

  it.concurrent('the menu times out to a chroot DEFAULT_IMAGE, which resolves to r_<name>', async () => {
    const script = instrument(renderIpxeScript({ ...base, serverSettings: { MENU_TIMEOUT: '1', DEFAULT_IMAGE: 'bionic', KERNEL_PARAMETERS: 'quiet' } }));
    const screen = await runInIpxe('menu', script, /CF-END/);
    expect(screen).toContain('CF-FAILED img=bionic');
    expect(screen).toMatch(/nfsroot=:\/srv\/ltsp\/bionic +BOOTIF=01- +quiet|nfsroot=:\/srv\/ltsp\/bionic BOOTIF=01- quiet/);
    expect(screen).not.toMatch(/Unrecognised option|Usage:/);
  }, 60000);
});
