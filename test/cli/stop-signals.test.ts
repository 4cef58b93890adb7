import { afterEach, describe, expect, it, vi } from 'vitest';
import { execa } from 'execa';
import { onStopSignals } from '../../src/cli/stop-signals.js';

// The watcher's SIGTERM while a child process of a pass still runs: execa's cleanup makes
// signal-exit listen too, and signal-exit kills the process again when it finds itself alone.

describe('onStopSignals', () => {
  afterEach(() => vi.restoreAllMocks());

  it('a SIGTERM while an execa child runs stops, and nothing kills the process again', async () => {
    // The test runner's own listeners (if any) would hide the fault: as in the CLI, only ours
    // and then signal-exit's (registered by the first child, after ours) listen.
    const runners = process.listeners('SIGTERM');
    for (const l of runners) process.off('SIGTERM', l);
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
    const stop = vi.fn();
    const off = onStopSignals(stop);
    const child = execa('sleep', ['30'], { reject: false });
    try {
      expect(process.listeners('SIGTERM').length).toBe(2);
      process.emit('SIGTERM', 'SIGTERM');
      expect(stop).toHaveBeenCalledTimes(1);
      expect(kill.mock.calls.filter(([pid]) => pid === process.pid)).toEqual([]);
    } finally {
      off();
      for (const l of runners) process.on('SIGTERM', l as () => void);
      kill.mockRestore();
      child.kill('SIGKILL');
      await child;
    }
  });

  it('after the returned function, it no longer listens', () => {
    const before = process.listeners('SIGINT').length;
    const off = onStopSignals(() => {});
    expect(process.listeners('SIGINT').length).toBe(before + 1);
    off();
    expect(process.listeners('SIGINT').length).toBe(before);
  });
});
