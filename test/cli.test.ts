import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';

const cli = (...args: string[]) => execFileSync('node', ['bin/ltsp-ts.js', ...args], { encoding: 'utf8' });

describe('cli', () => {
  it('prints help listing the commands', () => {
    const out = cli('--help');
    for (const c of ['serve', 'decode', 'replay', 'config', 'image', 'kernel', 'ipxe', 'nfs']) expect(out).toContain(c);
  });
  it('prints the package version', () => {
    expect(cli('--version').trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
