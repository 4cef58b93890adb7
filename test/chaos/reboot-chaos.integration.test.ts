import { describe, expect } from 'vitest';
import { requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { containers, http, reboot, useLabNode, waitHttp } from '../support/node.js';
import { chaosIt } from './chaos.js';

// A reboot in the middle of a stop.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

describe.runIf(enabled)('chaos: reboot', () => {
  chaosIt(6, 'a reboot in the middle of a stop', 120_000, async (run) => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    await node().aq(['install', 'slowstop', '--wait', '--timeout', '60']);
    // slowstop's PID 1 ignores SIGTERM: its stop lasts its 5 s stop timeout. Reboot in it.
    const r = await node().aq(['stop', 'slowstop']);
    expect(r.stdout).toMatch(/now stopping/);
    run.broke();
    await reboot();
    expect(await waitHttp(18081, '/', 90_000)).toBe('ok\n');
    await node().aq(['reconcile']);
    expect(await http(18084)).toBeUndefined();
    expect(await containers()).not.toContain('slowstop');
    expect(await node().status('slowstop')).toMatchObject({ desired: 'stopped', state: 'stopped', converged: true });
    const failed = String(
      (await asUser(['systemctl', '--user', 'list-units', '--failed', '--plain', '--no-legend'])).stdout,
    ).trim();
    expect(failed).toBe('');
    run.recovered();
    await node().aq(['start', 'slowstop', '--wait', '--timeout', '60']);
    expect(await waitHttp(18084)).toBe('ok\n');
  });
});
