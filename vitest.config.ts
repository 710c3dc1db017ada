import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Several suites bind UDP/TCP ports and run real peers (atftp, curl, mksquashfs);
    // running files in parallel on a 2-core box makes them flaky, so one file at a time.
    fileParallelism: false,
  },
});
