import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Lab tests share one systemd user manager and one Podman store: run files one at a time.
    fileParallelism: false,
    testTimeout: 20_000,
    // The gate runs the apps of one event concurrently (it.concurrent): all six at once.
    maxConcurrency: 10,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
