import { configDefaults, defineConfig } from 'vitest/config';

const LAB_TESTS = 'test/**/*.integration.test.ts';

// Two tiers: `vitest run --project unit` runs the pure tests, files in parallel, in seconds;
// `vitest run` runs both, the lab tier after the unit tier so that it has the machine to itself.
export default defineConfig({
  test: {
    reporters: ['default'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, LAB_TESTS],
          fileParallelism: true,
          // Vitest leaves one core free by default: on a 2-core machine that is one worker.
          // These tests mostly wait on child processes and the file system: use both.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'lab',
          include: [LAB_TESTS],
          // Lab tests share one systemd user manager and one Podman store: run files one at a time.
          fileParallelism: false,
          // The gate runs the apps of one event concurrently (it.concurrent): all six at once.
          maxConcurrency: 10,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
