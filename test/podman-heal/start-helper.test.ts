import { describe, expect, it } from 'vitest';
import { startHelperUntilRunning } from '../../src/podman-heal/start-helper.js';

const noSleep = async () => {};

describe('starting a network helper again', () => {
  it('runs the command once when the helper is then seen running', async () => {
    let runs = 0;
    let checks = 0;
    const n = await startHelperUntilRunning(
      'pasta',
      async () => void runs++,
      async () => ++checks >= 3, // seen on the third look
      { sleep: noSleep },
    );
    expect([n, runs]).toEqual([1, 1]);
  });

  it('runs it again when it succeeded without starting anything (the old helper a zombie, not yet reaped)', async () => {
    // Podman starts the helper only on a run after the zombie is reaped: here, the second.
    let runs = 0;
    let started = false;
    const n = await startHelperUntilRunning(
      'aardvark-dns',
      async () => {
        runs++;
        if (runs >= 2) started = true;
      },
      async () => started,
      { sleep: noSleep, watchMs: 300, pollMs: 100 },
    );
    expect([n, runs]).toEqual([2, 2]);
  });

  it('gives up after its attempts, saying which helper', async () => {
    let runs = 0;
    await expect(
      startHelperUntilRunning(
        'pasta',
        async () => void runs++,
        async () => false,
        { sleep: noSleep, attempts: 3 },
      ),
    ).rejects.toThrow('pasta is still not running after 3 tries');
    expect(runs).toBe(3);
  });

  it("passes the command's own failure on at once", async () => {
    let runs = 0;
    await expect(
      startHelperUntilRunning(
        'pasta',
        async () => {
          runs++;
          throw new Error('podman unshare --rootless-netns: boom');
        },
        async () => true,
        { sleep: noSleep },
      ),
    ).rejects.toThrow('boom');
    expect(runs).toBe(1);
  });
});
