import { describe, expect, it } from 'vitest';
import { appProgress, defaultWaitSec, imagesToProbe } from '../../src/supervise/progress.js';
import type { DesiredApp, Observed, UnitStatus } from '../../src/supervise/types.js';
import { container } from './fake-systemd.js';

const unit = (activeState: string, subState = 'running'): UnitStatus => ({
  loadState: 'loaded',
  activeState,
  subState,
  result: 'success',
  needDaemonReload: false,
  nRestarts: 0,
  execMainStatus: 0,
  execMainStartMono: 1,
  activeEnterMono: 1,
  inactiveEnterMono: 0,
});
const app: DesiredApp = {
  id: 'ui',
  intent: 'running',
  purge: false,
  rendered: {
    files: [],
    containers: [
      container('ui-db', { image: 'docker.io/library/postgres:16', pull: 'missing' }),
      container('ui', {
        stopTimeoutSec: 5,
        startTimeoutSec: 120,
        image: 'localhost/archy/ui:1.0.0',
        buildService: 'ui-build.service',
      }),
    ],
    services: ['ui-build.service', 'ui-db.service', 'ui.service'],
    secrets: [],
    dataDirs: [],
    provides: [],
    needs: [],
  },
};
const observed = (units: Record<string, UnitStatus>): Observed => ({
  nowMono: 0,
  nowMs: 0,
  files: {},
  units,
  backoff: {},
});

describe('progress of a long operation', () => {
  it('says building, pulling, starting, waiting for health, running, in that order of things', () => {
    const none = { containers: {}, images: {} };
    expect(appProgress(app, observed({ 'ui-build.service': unit('activating', 'start') }), none)).toEqual({
      phase: 'building',
      unit: 'ui-build.service',
      detail: 'localhost/archy/ui:1.0.0',
    });
    const o = observed({ 'ui-build.service': unit('active', 'exited'), 'ui-db.service': unit('activating', 'start') });
    expect(imagesToProbe(app, o, {})).toEqual(['docker.io/library/postgres:16']);
    expect(appProgress(app, o, { containers: {}, images: { 'docker.io/library/postgres:16': false } })).toEqual({
      phase: 'pulling',
      unit: 'ui-db.service',
      detail: 'docker.io/library/postgres:16',
    });
    expect(appProgress(app, o, { containers: {}, images: { 'docker.io/library/postgres:16': true } })).toMatchObject({
      phase: 'starting',
      unit: 'ui-db.service',
    });
    expect(
      appProgress(app, o, { containers: { 'ui-db': { state: 'running', health: 'starting' } }, images: {} }),
    ).toEqual({ phase: 'waiting for health', unit: 'ui-db.service', detail: 'health: starting' });
    const up = observed({
      'ui-build.service': unit('active', 'exited'),
      'ui-db.service': unit('active'),
      'ui.service': unit('active'),
    });
    expect(appProgress(app, up, none)).toEqual({ phase: 'running' });
    expect(appProgress(app, observed({ 'ui.service': unit('deactivating', 'stop-sigterm') }), none)).toMatchObject({
      phase: 'stopping',
      unit: 'ui.service',
    });
    expect(appProgress(app, observed({ 'ui-db.service': unit('activating', 'auto-restart') }), none)).toMatchObject({
      phase: 'restarting',
    });
  });

  it("waits, by default, as long as the app's own timeouts allow", () => {
    expect(defaultWaitSec(app, 'install')).toBe(60 + 2 * 120); // a build gets its own start timeout
    expect(defaultWaitSec(app, 'stop')).toBe(10 + 30 + 5 + 30);
    expect(defaultWaitSec(app, 'restart')).toBe(75 + 300);
    expect(defaultWaitSec(undefined, 'start')).toBe(600);
  });
});
