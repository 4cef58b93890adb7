import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { currentView, requestPass } from '../../src/supervise/supervisor.js';
import { readLedger } from '../../src/supervise/pass-ledger.js';
import { METRICS_FILE, nodeMetricsText, setMetricsDir } from '../../src/metrics/node-metrics.js';
import { fakeNode, type FakeNode } from '../supervise/fake-adapters.js';

// The node's metrics from what a pass sees: the families and values a dashboard relies on,
// labels from fixed sets only, and the file a pass writes for the node exporter.

let node: FakeNode;
afterEach(() => node?.cleanup());

async function metrics(n: FakeNode): Promise<string> {
  return nodeMetricsText(await currentView(n.sv), await readLedger(n.sv.ledgerPath));
}

/** Every sample line, parsed: name, labels, value. */
function samples(text: string) {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`not a sample line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

describe('node metrics', () => {
  it('after an install: wanted running, running, converged, the pass that did it', async () => {
    node = fakeNode();
    node.install('web');
    await requestPass(node.sv);
    const text = await metrics(node);
    const s = samples(text);
    const one = (name: string, labels: Record<string, string> = {}) =>
      s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
    expect(one('archy_quadlet_app_desired_state', { app: 'web', state: 'running' })).toBe(1);
    expect(one('archy_quadlet_app_desired_state', { app: 'web', state: 'stopped' })).toBe(0);
    expect(one('archy_quadlet_app_state', { app: 'web', state: 'running' })).toBe(1);
    expect(s.filter((x) => x.name === 'archy_quadlet_app_state' && x.value === 1)).toHaveLength(1);
    expect(one('archy_quadlet_unit_state', { unit: 'web.service', state: 'running' })).toBe(1);
    expect(one('archy_quadlet_unit_healthy', { unit: 'web.service' })).toBe(1);
    expect(one('archy_quadlet_app_converged', { app: 'web' })).toBe(1);
    expect(one('archy_quadlet_node_converged')).toBe(1);
    expect(one('archy_quadlet_passes_completed_total')).toBe(1);
    expect(one('archy_quadlet_pass_steps', { kind: 'start', outcome: 'ok' })).toBe(1);
    expect(one('archy_quadlet_pass_last_timestamp_seconds')).toBeGreaterThan(1_700_000_000);
    expect(text).toMatch(/^# TYPE archy_quadlet_passes_completed_total counter$/m);
  });

  it('a failed unit: its state, the reason from a fixed set; no free text in any label', async () => {
    node = fakeNode();
    node.install('web');
    await requestPass(node.sv);
    Object.assign(node.sv.systemctl.units['web.service']!, {
      activeState: 'failed',
      subState: 'failed',
      result: 'exit-code',
      execMainStatus: 1,
      nRestarts: 3,
    });
    let s = samples(await metrics(node));
    const find = (name: string, labels: Record<string, string>) =>
      s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    expect(find('archy_quadlet_unit_state', { unit: 'web.service', state: 'failed' })?.value).toBe(1);
    expect(find('archy_quadlet_unit_last_failure', { unit: 'web.service' })?.labels.reason).toBe('exit-code');
    expect(find('archy_quadlet_unit_restarts', { unit: 'web.service' })?.value).toBe(3);
    expect(find('archy_quadlet_unit_healthy', { unit: 'web.service' })?.value).toBe(0);
    expect(find('archy_quadlet_app_converged', { app: 'web' })?.value).toBe(0);

    node.sv.systemctl.units['web.service']!.result = 'something systemd adds one day';
    s = samples(await metrics(node));
    expect(find('archy_quadlet_unit_last_failure', { unit: 'web.service' })?.labels.reason).toBe('other');
    for (const x of s)
      for (const [k, v] of Object.entries(x.labels))
        expect(`${k}=${v}`).toMatch(/^[a-z_]+=[A-Za-z0-9][A-Za-z0-9.@-]*$/);
  });

  it('a pass writes the file where setup --metrics asked, and stops once it is removed', async () => {
    node = fakeNode();
    node.install('web');
    const dir = join(node.root, 'textfile');
    mkdirSync(dir);
    await setMetricsDir(node.paths.stateDir, dir);
    await requestPass(node.sv);
    const text = readFileSync(join(dir, METRICS_FILE), 'utf8');
    expect(text).toMatch(/^archy_quadlet_app_state\{app="web",state="running"\} 1$/m);
    await setMetricsDir(node.paths.stateDir, undefined);
    expect(existsSync(join(dir, METRICS_FILE))).toBe(false);
    await requestPass(node.sv);
    expect(existsSync(join(dir, METRICS_FILE))).toBe(false);
  });
});
