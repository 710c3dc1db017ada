import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';



describe('systemd unit', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ltsp-unit-'));
  const unitPath = path.join(dir, 'ltsp-ts.service');
  // The unit as `ltsp-ts install-service` renders it for this checkout.
  writeFileSync(unitPath, execFileSync('node', ['bin/ltsp-ts.js', 'install-service', '--print'], { encoding: 'utf8' }));

  it('is rendered with ExecStart running this checkout', () => {
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).toMatch(new RegExp(`^ExecStart=${process.execPath} \\S+/bin/ltsp-ts\\.js serve --config /etc/ltsp/ltsp\\.conf$`, 'm'));
    expect(unit).toContain('ConditionPathExists=!/run/ltsp/client');
    expect(unit).toMatch(/^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
    expect(unit).toMatch(/^DynamicUser=yes$/m);
  });

  it('--lan-interface adds the full-DHCP guard (RestrictNetworkInterfaces) and still verifies', () => {
    const unit = execFileSync('node', ['bin/ltsp-ts.js', 'install-service', '--print', '--lan-interface', 'eth1'], { encoding: 'utf8' });
    expect(unit).toMatch(/^RestrictNetworkInterfaces=eth1 lo$/m);
    const p = path.join(dir, 'lan', 'ltsp-ts.service');
    mkdirSync(path.dirname(p));
    writeFileSync(p, unit);
    const r = spawnSync('systemd-analyze', ['verify', p], { encoding: 'utf8' });
    expect(r.stderr.trim()).toBe('');
    expect(spawnSync('node', ['bin/ltsp-ts.js', 'install-service', '--print', '--lan-interface', 'eth1;rm'], { encoding: 'utf8' }).status).not.toBe(0);
  });

  it('passes systemd-analyze verify', () => {
    const r = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    expect(r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('has an exposure level of at most 2.5 (systemd-analyze security --offline=true)', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unitPath], { encoding: 'utf8' });
    const m = /Overall exposure level for ltsp-ts\.service: ([\d.]+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const exposure = Number(m![1]);
    // Printed into the test output on purpose: the figure the issue asks to see.
    console.log(`systemd-analyze security --offline=true: exposure ${exposure}`);
    expect(exposure).toBeLessThanOrEqual(2.5);
    rmSync(dir, { recursive: true, force: true });
  });
});
