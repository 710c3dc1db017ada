/**
 * Typed config from ltsp.conf: defaults, service keys, precedence flags > file > defaults,
 * broken files with file:line errors, missing files, and the `ltsp-ts config` command.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, loadConfigText, COMMAND_LINE } from '../src/config/load.js';
import { KEY_SPECS } from '../src/config/keys.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('typed config', () => {
  it('LTSP defaults with an empty file', () => {
    const { config, errors, warnings } = loadConfigText('');
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      configFile: '/etc/ltsp/ltsp.conf',
      baseDir: '/srv/ltsp',
      tftpDir: '/srv/tftp',
      homeDir: '/home',
      dhcp: { mode: 'proxy', port: 67, pxePort: 4011, bootFiles: {} },
      tftp: { enabled: true, port: 69 },
      http: { enabled: true, port: 8080, images: false },
    });
  });

  it('reads every service key from [server]/[common]', () => {
    const text = [
      '[common]',
      'BASE_DIR=/data/ltsp/',
      'TFTP_DIR=/data/tftp',
      '[server]',
      'HOME_DIR=/srv/home',
      'DHCP_MODE=Full',
      'DHCP_PORT=1067',
      'PXE_PORT=14011',
      'TFTP=0',
      'TFTP_PORT=1069',
      'HTTP=no',
      'HTTP_PORT=18080',
      'INTERFACES="eth0 enp3s0"',
      'SERVER_IP=192.168.67.1',
      'ALLOWED_CLIENTS="3c:07:71:* aa:bb:cc:dd:ee:ff"',
      'BOOT_FILE_BIOS=ltsp/ipxe.pxe',
      'BOOT_FILE_EFI_X64=ltsp/ipxe.efi',
      'BOOT_FILE_ARM64_EFI=ltsp/snponly-arm64.efi',
      'BOOT_FILE_HTTP_X64=""',
      'TFTP_MAX_BLKSIZE=1468',
      'TFTP_MAX_WINDOWSIZE=16',
      'TFTP_MAX_TRANSFERS=100',
      'TFTP_FOLLOW_SYMLINKS=1',
      'HTTP_IMAGES=1',
      'HTTP_IMAGES_ALLOW="192.168.67.0/24"',
      'HTTP_TOKEN_SECRET=s3cret',
      'DHCP_RANGE=192.168.67.20,192.168.67.250,12h',
      'LEASE_FILE=/var/lib/ltsp-ts/l.journal',
      'DNS_SERVER="1.1.1.1 9.9.9.9"',
      'DHCP_ROUTER=192.168.67.1',
    ].join('\n');
    const { config, errors, warnings } = loadConfigText(text);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      baseDir: '/data/ltsp',
      tftpDir: '/data/tftp',
      homeDir: '/srv/home',
      interfaces: ['eth0', 'enp3s0'],
      serverIp: '192.168.67.1',
      dhcp: {
        mode: 'full',
        port: 1067,
        pxePort: 14011,
        allowClients: ['3c:07:71:*', 'aa:bb:cc:dd:ee:ff'],
        bootFiles: { bios: 'ltsp/ipxe.pxe', 'efi-x64': 'ltsp/ipxe.efi', 'efi-arm64': 'ltsp/snponly-arm64.efi', 'http-x64': '' },
        range: { start: '192.168.67.20', end: '192.168.67.250', leaseSeconds: 43200 },
        leaseFile: '/var/lib/ltsp-ts/l.journal',
        dnsServers: ['1.1.1.1', '9.9.9.9'],
        router: '192.168.67.1',
      },
      tftp: { enabled: false, port: 1069, maxBlksize: 1468, maxWindowsize: 16, maxTransfers: 100, followSymlinksOutside: true },
      http: { enabled: false, port: 18080, images: true, imagesAllow: ['192.168.67.0/24'], tokenSecret: 's3cret' },
    });
  });

  it('[server] wins over [common], which wins over unnamed text', () => {
    const { config } = loadConfigText('HTTP_PORT=1\n[server]\nHTTP_PORT=3\n[common]\nHTTP_PORT=2\n');
    expect(config.http.port).toBe(3);
  });

  it('client sections never change the server config', () => {
    const { config } = loadConfigText('[clients]\nHTTP_PORT=1\n[aa:bb:cc:dd:ee:ff]\nBASE_DIR=/x\n');
    expect(config.http.port).toBe(8080);
    expect(config.baseDir).toBe('/srv/ltsp');
  });

  it('DHCP_RANGE lease syntax (LTSP/dnsmasq) and default lease', () => {
    const lease = (v: string) => loadConfigText(`[server]\nDHCP_RANGE=${v}`).config.dhcp.range;
    expect(lease('10.0.0.10,10.0.0.20')).toEqual({ start: '10.0.0.10', end: '10.0.0.20', leaseSeconds: 43200 });
    expect(lease('10.0.0.10,10.0.0.20,45m')?.leaseSeconds).toBe(2700);
    expect(lease('10.0.0.10,10.0.0.20,1d')?.leaseSeconds).toBe(86400);
    expect(lease('10.0.0.10,10.0.0.20,600')?.leaseSeconds).toBe(600);
  });

  it('PROXY_DHCP=0 REAL_DHCP=0 (LTSP "TFTP only") means DHCP off', () => {
    expect(loadConfigText('[server]\nPROXY_DHCP=0\nREAL_DHCP=0').config.dhcp.mode).toBe('off');
    const l = loadConfigText('[server]\nPROXY_DHCP=0\n');
    expect(l.config.dhcp.mode).toBe('proxy');
    expect(l.warnings[0]).toMatchObject({ line: 2, message: expect.stringMatching(/DHCP_MODE/) });
  });

  it('unknown BOOT_FILE_ arch is a warning with its line', () => {
    const l = loadConfigText('[server]\nBOOT_FILE_Z80=x\n');
    expect(l.errors).toEqual([]);
    expect(l.warnings).toEqual([{ file: '/etc/ltsp/ltsp.conf', line: 2, message: expect.stringMatching(/BOOT_FILE_Z80: unknown architecture/) }]);
  });
});

describe('bad values and broken files: errors with file:line', () => {
  const errs = (text: string) => loadConfigText(text, { configFile: 'x.conf' }).errors.map((e) => `${e.file}:${e.line}: ${e.message}`);

  it('bad values', () => {
    expect(errs('[server]\nHTTP_PORT=abc\nDHCP_MODE=bogus\nTFTP=maybe\nTFTP_MAX_BLKSIZE=7\n')).toEqual([
      "x.conf:2: HTTP_PORT: expected an integer 0..65535, got 'abc'",
      "x.conf:3: DHCP_MODE: expected one of proxy|full|off, got 'bogus'",
      "x.conf:4: TFTP: expected 0 or 1, got 'maybe'",
      'x.conf:5: TFTP_MAX_BLKSIZE: expected an integer 8..65464, got 7',
    ]);
    expect(errs('[server]\nHTTP_PORT=70000')).toEqual(['x.conf:2: HTTP_PORT: expected an integer 0..65535, got 70000']);
    expect(errs('[server]\nSERVER_IP=192.168.67.256')[0]).toMatch(/^x.conf:2: SERVER_IP: expected an IPv4 address/);
    expect(errs('[server]\nBASE_DIR=srv/ltsp')[0]).toMatch(/^x.conf:2: BASE_DIR: expected an absolute path/);
    expect(errs('[server]\nDHCP_RANGE=10.0.0.9,10.0.0.1')[0]).toMatch(/^x.conf:2: DHCP_RANGE: START 10.0.0.9 is after END/);
    expect(errs('[server]\nDHCP_RANGE=10.0.0.1,10.0.0.9,12x')[0]).toMatch(/^x.conf:2: DHCP_RANGE: bad lease time '12x'/);
    expect(errs('[server]\nDNS_SERVER="1.1.1.1 dns.example"')[0]).toMatch(/^x.conf:2: DNS_SERVER: expected IPv4 addresses/);
    expect(errs('[server]\nALLOWED_CLIENTS="aa:bb:* pc01"')[0]).toMatch(/^x.conf:2: ALLOWED_CLIENTS: expected MAC addresses or globs/);
  });

  it('a bad value falls back to the default, the others still apply', () => {
    const l = loadConfigText('[server]\nHTTP_PORT=abc\nTFTP_PORT=1069');
    expect(l.config.http.port).toBe(8080);
    expect(l.config.tftp.port).toBe(1069);
  });

  it('the line reported is the assignment that won', () => {
    expect(errs('[common]\nHTTP_PORT=1\n[server]\n\n\nHTTP_PORT=x')).toEqual(["x.conf:6: HTTP_PORT: expected an integer 0..65535, got 'x'"]);
  });

  it('unterminated quotes name the line where the quote opened', () => {
    expect(errs('[server]\nA=1\nKERNEL_PARAMETERS="quiet\nB=2\n')).toEqual(['x.conf:3: KERNEL_PARAMETERS: unterminated double quote (opened on line 3)']);
    expect(errs("[clients]\nX='abc\n")).toEqual(['x.conf:2: X: unterminated single quote (opened on line 2)']);
    expect(errs('[server]\nX=ok\nY=a"b\n')).toEqual(['x.conf:3: Y: unterminated double quote (opened on line 3)']);
  });

  it('bad headers', () => {
    expect(errs('[server\nA=1\n')).toEqual(["x.conf:1: bad section header '[server': missing ']'"]);
    expect(errs('A=1\n[]\n')).toEqual(['x.conf:2: empty section header []']);
    expect(errs('[my lab]\n')).toEqual(['x.conf:1: bad section header [my lab]: only letters, digits and - * . / : ? @ _ | are allowed']);
    expect(errs('[server] HTTP_PORT=1\n')).toEqual(["x.conf:1: bad section header '[server] HTTP_PORT=1': only a comment may follow ']'"]);
    expect(errs('[server] # the server\nHTTP_PORT=1\n')).toEqual([]);
  });

  it("a broken header's body is not applied to the previous section", () => {
    const l = loadConfigText('[server]\nHTTP_PORT=1\n[lab x]\nHTTP_PORT=2\n');
    expect(l.config.http.port).toBe(1);
  });
});

describe('files and flags', () => {
  it('missing default file = defaults, no error; missing --config file = error', async () => {
    const missing = join(dir, 'nope.conf');
    const implicit = await loadConfig({ configFile: missing });
    expect(implicit.errors).toEqual([]);
    expect(implicit.config.baseDir).toBe('/srv/ltsp');
    const explicit = await loadConfig({ configFile: missing, explicit: true });
    expect(explicit.errors).toEqual([{ file: missing, line: 0, message: 'no such file' }]);
  });

  it('a directory given as config is an error', async () => {
    const l = await loadConfig({ configFile: dir });
    expect(l.errors[0]).toMatchObject({ file: dir, message: 'is a directory' });
  });

  it('flags override the file, the file overrides defaults', async () => {
    const f = write('prec.conf', '[server]\nBASE_DIR=/from/file\nTFTP_DIR=/tftp/file\nHTTP_PORT=9000\n');
    const l = await loadConfig({ configFile: f, explicit: true, overrides: { baseDir: '/from/flag', http: { port: 9001 } } });
    expect(l.errors).toEqual([]);
    expect(l.config.baseDir).toBe('/from/flag');
    expect(l.config.tftpDir).toBe('/tftp/file');
    expect(l.config.http.port).toBe(9001);
    expect(l.config.http.enabled).toBe(true);
    expect(l.config.configFile).toBe(f);
  });

  it('a bad override is reported as coming from the command line', async () => {
    const l = loadConfigText('', { overrides: { http: { port: 99999 } } });
    expect(l.errors).toHaveLength(1);
    expect(l.errors[0]).toMatchObject({ file: COMMAND_LINE, message: expect.stringMatching(/^http\.port/) });
    expect(l.config.http.port).toBe(8080);
  });
});

describe('README documents every key', () => {
  it('each ltsp.conf key of keys.ts is in the README table', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const spec of KEY_SPECS) expect(readme, spec.key).toContain(`| \`${spec.key}\``);
    expect(readme).toContain('`BOOT_FILE_<ARCH>`');
  });
});

describe('ltsp-ts config', () => {
  const cli = join(ROOT, 'bin/ltsp-ts.js');

  it('prints the resolved config as JSON with warnings and a client', async () => {
    const f = write('ok.conf', '[server]\nHTTP_PORT=8081\nHTTP_TOKEN_SECRET=topsecret\necho hi\n[aa:bb:cc:dd:ee:ff]\nHOSTNAME=pc01\n');
    const { stdout, stderr } = await run(process.execPath, [cli, 'config', '--config', f, '--json', '--client', 'AA:BB:CC:DD:EE:FF', '--tftp-dir', '/t'], { timeout: 20000 });
    const out = JSON.parse(stdout);
    expect(out.config.http.port).toBe(8081);
    expect(out.config.tftpDir).toBe('/t');
    expect(out.config.http.tokenSecret).toBe('(set)');
    expect(stdout).not.toContain('topsecret');
    expect(out.client.settings.HOSTNAME).toBe('pc01');
    expect(out.macSections).toEqual([{ mac: 'aa:bb:cc:dd:ee:ff', line: 5, settings: { HOSTNAME: 'pc01' } }]);
    expect(out.warnings).toHaveLength(1);
    expect(stderr).toContain(`${f}:4: warning: not understood, ignored: 'echo hi'`);
  });

  it('exits 1 with file:line: message on errors', async () => {
    const f = write('bad.conf', '[server]\nHTTP_PORT=abc\nDHCP_MODE=bogus\n');
    const err = await run(process.execPath, [cli, 'config', '--config', f], { timeout: 20000 }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toContain(`${f}:2: HTTP_PORT: expected an integer 0..65535, got 'abc'\n${f}:3: DHCP_MODE: expected one of proxy|full|off, got 'bogus'`);
    const missing = await run(process.execPath, [cli, 'config', '--config', join(dir, 'none.conf')], { timeout: 20000 }).catch((e: { code: number; stderr: string }) => e);
    expect((missing as { code: number }).code).toBe(1);
    expect((missing as { stderr: string }).stderr).toContain('none.conf: no such file');
  });

  it('human output lists sections and the client', async () => {
    const f = write('h.conf', '[server]\nHTTP_PORT=8081\n[192.168.67.*]\nSOUND=1\n');
    const { stdout } = await run(process.execPath, [cli, 'config', '--config', f, '--client', '52:54:00:00:00:01', '--ip', '192.168.67.9'], { timeout: 20000 });
    expect(stdout).toContain('http.port = 8081');
    expect(stdout).toContain('[192.168.67.*]  (line 3)');
    expect(stdout).toContain('SOUND="1"');
  });
});
