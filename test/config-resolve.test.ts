/**
 * ltsp.conf parsing and per-client resolution over a realistic file: MAC, IP glob, OUI
 * alternatives, hostname and named INCLUDE sections, quoting, comments, unnamed text.
 */
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../src/config/load.js';
import { matchPattern, parseLtspConf } from '../src/config/ltsp-conf.js';

const FILE = '/etc/ltsp/ltsp.conf';

// Line numbers matter: tests below refer to them.
const REALISTIC = [
  /* 1 */ '# /etc/ltsp/ltsp.conf, in the style of LTSP\'s example file',
  /* 2 */ 'KEYBOARD_LAYOUT=us   # text before any section: "unnamed"',
  /* 3 */ '',
  /* 4 */ '[server]',
  /* 5 */ 'BASE_DIR = /srv/ltsp',
  /* 6 */ 'IPXE_X86_64_IMG="Ubuntu 24.04 MATE"',
  /* 7 */ "KERNEL_PARAMETERS='quiet splash'",
  /* 8 */ 'HTTP_PORT=8081',
  /* 9 */ '',
  /* 10 */ '[common]',
  /* 11 */ 'TIMEZONE=Europe/Athens',
  /* 12 */ 'SSH_OPTIONS="-o ServerAliveInterval=60"',
  /* 13 */ '',
  /* 14 */ '[clients]',
  /* 15 */ 'SOUND=0',
  /* 16 */ 'FSTAB_NFS="server:/home /home nfs defaults,nolock 0 0"',
  /* 17 */ 'PASSWORDS_LAB="teacher/dGVhY2hlcg== student/c3R1ZGVudA=="',
  /* 18 */ '',
  /* 19 */ '# All clients of the lab subnet',
  /* 20 */ '[192.168.67.*]',
  /* 21 */ 'INCLUDE=lab_defaults',
  /* 22 */ 'X_XRANDR="--auto"',
  /* 23 */ '',
  /* 24 */ '[3C:07:71:*]',
  /* 25 */ 'HOSTNAME=dell-%{IP}',
  /* 26 */ 'X_DRIVER=modesetting',
  /* 27 */ '',
  /* 28 */ '[b8:27:eb:*|dc:a6:32:*]',
  /* 29 */ 'INCLUDE=raspberry',
  /* 30 */ '',
  /* 31 */ '[3c:07:71:a2:02:e3]',
  /* 32 */ 'HOSTNAME=pc01',
  /* 33 */ 'DEFAULT_IMAGE=x86_32',
  /* 34 */ 'KERNEL_PARAMETERS="nomodeset noapic"',
  /* 35 */ 'X_DRIVER=vesa',
  /* 36 */ '',
  /* 37 */ '[AA:BB:CC:DD:EE:02]',
  /* 38 */ 'MENU_TIMEOUT=-1',
  /* 39 */ 'INCLUDE=old_monitor',
  /* 40 */ '',
  /* 41 */ '[192.168.67.99]',
  /* 42 */ 'SOUND=1',
  /* 43 */ '',
  /* 44 */ '[pc01]',
  /* 45 */ 'ROOM=101',
  /* 46 */ '',
  /* 47 */ '[lab_defaults]',
  /* 48 */ 'SOUND=1',
  /* 49 */ 'LOCAL_SWAP=1',
  /* 50 */ '',
  /* 51 */ '[old_monitor]',
  /* 52 */ 'X_HORIZSYNC="28.0-87.0"',
  /* 53 */ "X_MODES='\"1024x768\" \"800x600\"'",
  /* 54 */ 'INCLUDE=lab_defaults',
  /* 55 */ '',
  /* 56 */ '[raspberry]',
  /* 57 */ 'DEFAULT_IMAGE=raspios',
  /* 58 */ '',
  /* 59 */ '[initrd-bottom/library*]',
  /* 60 */ 'IMAGE_TO_RAM=1',
  '',
].join('\n');

describe('ltsp.conf parser', () => {
  const loaded = loadConfigText(REALISTIC, { configFile: FILE });

  it('reads the realistic file without errors or warnings', () => {
    expect(loaded.errors).toEqual([]);
    expect(loaded.warnings).toEqual([]);
  });

  it('lower-cases headers and keeps glob headers intact, in file order', () => {
    expect(loaded.ltspConf.headers.map((h) => [h.pattern, h.line])).toEqual([
      ['server', 4], ['common', 10], ['clients', 14], ['192.168.67.*', 20], ['3c:07:71:*', 24],
      ['b8:27:eb:*|dc:a6:32:*', 28], ['3c:07:71:a2:02:e3', 31], ['aa:bb:cc:dd:ee:02', 37],
      ['192.168.67.99', 41], ['pc01', 44], ['lab_defaults', 47], ['old_monitor', 51], ['raspberry', 56],
      ['initrd-bottom/library*', 59],
    ]);
  });

  it('unquotes values: double, single, spaces around = stripped, trailing comment dropped', () => {
    const s = loaded.serverSettings;
    expect(s.KEYBOARD_LAYOUT).toBe('us');
    expect(s.BASE_DIR).toBe('/srv/ltsp');
    expect(s.IPXE_X86_64_IMG).toBe('Ubuntu 24.04 MATE');
    expect(s.KERNEL_PARAMETERS).toBe('quiet splash');
    expect(s.SSH_OPTIONS).toBe('-o ServerAliveInterval=60');
    const pc = loaded.clientSettings('aa:bb:cc:dd:ee:02');
    expect(pc.X_MODES).toBe('"1024x768" "800x600"');
    expect(pc.X_HORIZSYNC).toBe('28.0-87.0');
  });

  it('server settings: unnamed < [common] < [server], no client sections', () => {
    const s = loaded.serverSettings;
    expect(s.TIMEZONE).toBe('Europe/Athens');
    expect(s.SOUND).toBeUndefined();
    expect(s.HTTP_PORT).toBe('8081');
    expect(loaded.config.http.port).toBe(8081);
  });

  it('a client with no matching section gets unnamed + [clients] + [common] only', () => {
    const c = loaded.clientSettings('52:54:00:12:34:56', '10.0.0.5');
    expect(c).toEqual({
      KEYBOARD_LAYOUT: 'us',
      SOUND: '0',
      FSTAB_NFS: 'server:/home /home nfs defaults,nolock 0 0',
      PASSWORDS_LAB: 'teacher/dGVhY2hlcg== student/c3R1ZGVudA==',
      TIMEZONE: 'Europe/Athens',
      SSH_OPTIONS: '-o ServerAliveInterval=60',
    });
    // [server] never applies to clients
    expect(c.HTTP_PORT).toBeUndefined();
  });

  it('IP glob section applies with its INCLUDE expanded in place', () => {
    const c = loaded.clientSettings('52:54:00:12:34:56', '192.168.67.20');
    expect(c.SOUND).toBe('1'); // from [lab_defaults] via INCLUDE, over [clients]
    expect(c.LOCAL_SWAP).toBe('1');
    expect(c.X_XRANDR).toBe('--auto');
  });

  it('exact MAC beats the OUI glob, whatever the file order; MAC compared case-insensitively', () => {
    for (const mac of ['3c:07:71:a2:02:e3', '3C:07:71:A2:02:E3', '3c-07-71-a2-02-e3']) {
      const c = loaded.clientSettings(mac, '192.168.67.20');
      expect(c.X_DRIVER).toBe('vesa'); // exact [3c:07:71:a2:02:e3] after glob [3c:07:71:*]
      expect(c.DEFAULT_IMAGE).toBe('x86_32');
      expect(c.KERNEL_PARAMETERS).toBe('nomodeset noapic');
      expect(c.HOSTNAME).toBe('pc01');
      // HOSTNAME set by the MAC section selects the [pc01] section (LTSP: section_call "$HOSTNAME")
      expect(c.ROOM).toBe('101');
    }
    // another Dell only gets the glob
    const other = loaded.clientSettings('3c:07:71:00:00:01');
    expect(other.X_DRIVER).toBe('modesetting');
    expect(other.HOSTNAME).toBe('dell-%{IP}'); // LTSP's lazy %{} kept for the client to evaluate
  });

  it('exact IP section beats the IP glob', () => {
    expect(loaded.clientSettings(undefined, '192.168.67.99').SOUND).toBe('1');
    expect(loaded.clientSettings(undefined, '192.168.67.99').LOCAL_SWAP).toBe('1');
  });

  it('alternative glob headers [b8:27:eb:*|dc:a6:32:*] match either OUI', () => {
    expect(loaded.clientSettings('b8:27:eb:11:22:33').DEFAULT_IMAGE).toBe('raspios');
    expect(loaded.clientSettings('DC:A6:32:11:22:33').DEFAULT_IMAGE).toBe('raspios');
    expect(loaded.clientSettings('e4:5f:01:11:22:33').DEFAULT_IMAGE).toBeUndefined();
  });

  it('hostname sections match the given hostname', () => {
    expect(loaded.clientSettings(undefined, undefined, 'PC01').ROOM).toBe('101');
    expect(loaded.clientSettings(undefined, undefined, 'pc02').ROOM).toBeUndefined();
  });

  it('an INCLUDEd section runs at most once per evaluation (LTSP recursion guard)', () => {
    // [aa:bb:cc:dd:ee:02] includes old_monitor which includes lab_defaults (SOUND=1)
    const c = loaded.clientSettings('aa:bb:cc:dd:ee:02');
    expect(c.MENU_TIMEOUT).toBe('-1');
    expect(c.SOUND).toBe('1');
  });

  it('applet sections and named sections are not matched as clients', () => {
    const c = loaded.clientSettings('52:54:00:12:34:56', '192.168.67.20', 'library1');
    expect(c.IMAGE_TO_RAM).toBeUndefined();
  });

  it('macSections lists literal MAC sections only, lower-cased, with INCLUDEs expanded', () => {
    const macs = loaded.macSections();
    expect(macs.map((m) => m.mac)).toEqual(['3c:07:71:a2:02:e3', 'aa:bb:cc:dd:ee:02']);
    expect(macs[0]!.settings).toEqual({ HOSTNAME: 'pc01', DEFAULT_IMAGE: 'x86_32', KERNEL_PARAMETERS: 'nomodeset noapic', X_DRIVER: 'vesa' });
    expect(macs[1]!.settings).toMatchObject({ MENU_TIMEOUT: '-1', X_HORIZSYNC: '28.0-87.0', SOUND: '1' });
    // the section's own values only: the global KERNEL_PARAMETERS does not leak in
    expect(macs[1]!.settings.KERNEL_PARAMETERS).toBeUndefined();
  });
});

describe('ltsp.conf shell subset', () => {
  it('expands $VAR and ${VAR} in evaluation order, not in single quotes', () => {
    const l = loadConfigText(
      ['[common]', 'KERNEL_PARAMETERS="quiet"', '[aa:bb:cc:dd:ee:ff]', 'KERNEL_PARAMETERS="$KERNEL_PARAMETERS nomodeset"', "LIT='$HOME'", 'B=${KERNEL_PARAMETERS}x'].join('\n'),
    );
    const c = l.clientSettings('aa:bb:cc:dd:ee:ff');
    expect(c.KERNEL_PARAMETERS).toBe('quiet nomodeset');
    expect(c.LIT).toBe('$HOME');
    expect(c.B).toBe('quiet nomodesetx');
    expect(l.warnings).toEqual([]);
  });

  it('supports multi-line quoted values, escapes and line continuations', () => {
    const text = ['[server]', 'ADD_IMAGE_EXCLUDES="', 'var/cache/*', 'opt/big/*', '"', 'A=one\\ two', 'B="say \\"hi\\" \\$x"', 'C=abc\\', 'def', 'D=after'].join('\n');
    const l = loadConfigText(text);
    expect(l.errors).toEqual([]);
    expect(l.warnings).toEqual([]);
    const s = l.serverSettings;
    expect(s.ADD_IMAGE_EXCLUDES).toBe('\nvar/cache/*\nopt/big/*\n');
    expect(s.A).toBe('one two');
    expect(s.B).toBe('say "hi" $x');
    expect(s.C).toBe('abcdef');
    expect(s.D).toBe('after');
    // line numbers after a multi-line value stay right
    const bad = loadConfigText(`${text}\nHTTP_PORT=abc`);
    expect(bad.errors).toEqual([{ file: '/etc/ltsp/ltsp.conf', line: 11, message: "HTTP_PORT: expected an integer 0..65535, got 'abc'" }]);
  });

  it('warns with file:line about shell code it does not run, and keeps going', () => {
    const text = [
      '[clients]',
      'POST_INIT_X="echo ok"',
      'echo hello',
      'FOO=bar baz',
      'if [ -f /x ]; then',
      '  A=1',
      'fi',
      'V=$(hostname)',
      'W=`date`',
      'Y=a;b',
      'Z=${HOME:-/root}',
      'INCLUDE=nowhere',
      'Q=$UNSET_VAR',
      'OK=1',
    ].join('\n');
    const l = loadConfigText(text, { configFile: 'lab.conf' });
    expect(l.errors).toEqual([]);
    const lines = l.warnings.map((w) => `${w.file}:${w.line}`);
    expect(lines).toEqual(['lab.conf:3', 'lab.conf:4', 'lab.conf:5', 'lab.conf:7', 'lab.conf:8', 'lab.conf:9', 'lab.conf:10', 'lab.conf:11', 'lab.conf:12', 'lab.conf:13']);
    expect(l.warnings[0]!.message).toMatch(/not understood.*echo hello/);
    expect(l.warnings[1]!.message).toMatch(/FOO=bar baz.*quote values/);
    expect(l.warnings.find((w) => w.line === 12)!.message).toMatch(/INCLUDE=nowhere: no such section/);
    expect(l.warnings.find((w) => w.line === 13)!.message).toMatch(/\$UNSET_VAR is not set/);
    const c = l.clientSettings('aa:bb:cc:dd:ee:ff');
    expect(c.POST_INIT_X).toBe('echo ok');
    expect(c.A).toBe('1'); // an indented assignment inside shell code is still an assignment
    expect(c.OK).toBe('1');
    expect(c.FOO).toBeUndefined();
    expect(c.Y).toBeUndefined();
    expect(c.V).toBe('$(hostname)');
  });

  it('a repeated section: the last body wins, as the shell redefines the function', () => {
    const l = loadConfigText(['[clients]', 'A=1', 'B=1', '[clients]', 'A=2'].join('\n'));
    expect(l.clientSettings('aa:bb:cc:dd:ee:ff')).toEqual({ A: '2' });
    expect(l.warnings).toHaveLength(1);
    expect(l.warnings[0]).toMatchObject({ line: 4, message: expect.stringMatching(/repeats.*line 1/) });
  });

  it('INCLUDE cycles terminate', () => {
    const l = loadConfigText(['[a]', 'INCLUDE=b', 'A=1', '[b]', 'INCLUDE=a', 'B=1', '[aa:bb:cc:dd:ee:ff]', 'INCLUDE=A'].join('\n'));
    expect(l.clientSettings('aa:bb:cc:dd:ee:ff')).toEqual({ A: '1', B: '1' });
  });

  it('CRLF line endings and a BOM are accepted', () => {
    const l = loadConfigText('\ufeff[server]\r\nHTTP_PORT=8082\r\nIPXE_X="a b"\r\n');
    expect(l.errors).toEqual([]);
    expect(l.warnings).toEqual([]);
    expect(l.config.http.port).toBe(8082);
    expect(l.serverSettings.IPXE_X).toBe('a b');
  });

  it('glob matching is shell case matching', () => {
    expect(matchPattern('192.168.67.*', '192.168.67.200')).toBe(true);
    expect(matchPattern('192.168.67.*', '192.168.670.1')).toBe(false);
    expect(matchPattern('192.168.6?.1', '192.168.67.1')).toBe(true);
    expect(matchPattern('a.b', 'axb')).toBe(false); // '.' is literal
    expect(parseLtspConf('[x]').headers[0]!.pattern).toBe('x');
  });
});

describe('robustness', () => {
  it('any text gives a result (never an exception), with diagnostics on real line numbers', async () => {
    const fc = await import('fast-check');
    const alphabet = fc.constantFrom(...'[]=#"\'\\$(){}|*?:. \t\nabcAB_019-/;&`%'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 200 }).map((a) => a.join('')), (text) => {
        const l = loadConfigText(text, { configFile: 'f' });
        const lineCount = text.split('\n').length;
        for (const d of [...l.warnings, ...l.errors]) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.line).toBeLessThanOrEqual(lineCount);
        }
        l.clientSettings('aa:bb:cc:dd:ee:ff', '192.168.67.1', 'pc01');
        l.macSections();
      }),
      { numRuns: 3000 },
    );
  });
});
