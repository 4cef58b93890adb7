import type { AppState, AppView, UnitState } from '../supervise/status.js';
import type { Desired, Observed } from '../supervise/types.js';
import { backoffRemainingMs } from '../supervise/clock-marks.js';

// The node's state in Prometheus' text exposition format (0.0.4), for `archy-quadlet
// metrics` and the node exporter's textfile collector. Pure: what a pass saw in, text out.
// Every label value is an app id, a unit name or a member of a fixed set below: never free
// text (a failure's message, a manifest's words) and never a secret.

const APP_STATES: readonly AppState[] = [
  'running',
  'starting',
  'stopping',
  'stopped',
  'failed',
  'partial',
  'waiting',
  'held',
  'updating',
  'adopting',
  'rolling-back',
  'rolled-back',
  'not-adopted',
  'uninstalling',
  'not-installed',
];
const UNIT_STATES: readonly UnitState[] = [
  'running',
  'starting',
  'restarting',
  'stopping',
  'stopped',
  'failed',
  'missing',
];
const DESIRED_STATES = ['running', 'stopped', 'absent'] as const;
/** systemd's service results (Result=): the reasons a unit last failed. Anything else is `other`. */
const FAILURE_REASONS = new Set([
  'exit-code',
  'signal',
  'core-dump',
  'timeout',
  'watchdog',
  'start-limit-hit',
  'resources',
  'oom-kill',
  'protocol',
  'success',
]);

/** The last completed pass, as the pass ledger recorded it. */
export interface LastPass {
  ms: number;
  /** When it ended, ms since the epoch (absent in ledgers written before it was recorded). */
  endedAtMs?: number;
  applied: Array<{ step: { kind: string }; ok: boolean }>;
  pendingCount: number;
}

export interface MetricsInput {
  views: AppView[];
  desired: Desired;
  observed: Observed;
  lastPass?: LastPass;
  passesCompleted: number;
}

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

export function renderMetrics(m: MetricsInput): string {
  const f = (name: string, type: Family['type'], help: string): Family => ({
    name: `archy_quadlet_${name}`,
    help,
    type,
    samples: [],
  });
  const desiredState = f('app_desired_state', 'gauge', 'What the user asked for the app: 1 for the state asked.');
  const appState = f(
    'app_state',
    'gauge',
    'The state of the app as systemd reports its units: 1 for the state it is in.',
  );
  const converged = f('app_converged', 'gauge', 'Whether the app is as asked (1) or steps remain (0).');
  const backoffFailures = f('app_backoff_failures', 'gauge', 'Consecutive failed starts of the app while in backoff.');
  const backoffSeconds = f('app_backoff_seconds', 'gauge', 'Seconds before the supervisor starts the app again.');
  const unitState = f('unit_state', 'gauge', 'The state of a unit of the app: 1 for the state it is in.');
  const healthy = f(
    'unit_healthy',
    'gauge',
    "Units with a health check: 1 while active (systemd's start waits for the check; Podman restarts a container that fails it), else 0.",
  );
  const restarts = f(
    'unit_restarts',
    'gauge',
    "Automatic restarts of the unit since it was last started (systemd's NRestarts).",
  );
  const sinceChange = f(
    'unit_seconds_since_transition',
    'gauge',
    'Seconds since the unit last became active or inactive.',
  );
  const lastFailure = f(
    'unit_last_failure',
    'gauge',
    "1 with the reason (systemd's Result) the unit last failed, while that failure is its latest result.",
  );
  const nodeConverged = f('node_converged', 'gauge', 'Whether every installed app is as asked.');
  const apps = f('apps_installed', 'gauge', 'Apps installed on the node.');
  const passMs = f('pass_duration_seconds', 'gauge', 'Duration of the last completed reconcile pass.');
  const passAt = f('pass_last_timestamp_seconds', 'gauge', 'When the last reconcile pass ended (Unix time).');
  const passes = f('passes_completed_total', 'counter', 'Reconcile passes completed since the node booted.');
  const steps = f('pass_steps', 'gauge', 'Steps the last reconcile pass applied, by kind and outcome.');

  const nowSec = m.observed.nowMono / 1e6;
  for (const v of m.views) {
    const app = v.id;
    for (const s of DESIRED_STATES)
      desiredState.samples.push({ labels: { app, state: s }, value: v.desired === s ? 1 : 0 });
    for (const s of APP_STATES) appState.samples.push({ labels: { app, state: s }, value: v.state === s ? 1 : 0 });
    converged.samples.push({ labels: { app }, value: v.converged ? 1 : 0 });
    const d = m.desired.apps.find((a) => a.id === app);
    const withHealth = new Set((d?.rendered?.containers ?? []).filter((c) => c.readiness).map((c) => c.service));
    let failures = 0;
    let remainingMs = 0;
    for (const u of v.units) {
      const labels = { app, unit: u.unit };
      for (const s of UNIT_STATES)
        unitState.samples.push({ labels: { ...labels, state: s }, value: u.state === s ? 1 : 0 });
      if (withHealth.has(u.unit)) healthy.samples.push({ labels, value: u.state === 'running' ? 1 : 0 });
      restarts.samples.push({ labels, value: u.restarts });
      const o = m.observed.units[u.unit];
      const changedMono = Math.max(o?.activeEnterMono ?? 0, o?.inactiveEnterMono ?? 0);
      if (changedMono > 0) sinceChange.samples.push({ labels, value: Math.max(0, nowSec - changedMono / 1e6) });
      if (u.result !== 'success' && u.result !== 'unknown' && u.result !== '')
        lastFailure.samples.push({
          labels: { ...labels, reason: FAILURE_REASONS.has(u.result) ? u.result : 'other' },
          value: 1,
        });
      const b = m.observed.backoff[u.unit];
      if (b) {
        failures = Math.max(failures, b.failures);
        remainingMs = Math.max(remainingMs, backoffRemainingMs(b, m.observed));
      }
    }
    backoffFailures.samples.push({ labels: { app }, value: failures });
    backoffSeconds.samples.push({
      labels: { app },
      value: Math.ceil(remainingMs / 1000),
    });
  }
  nodeConverged.samples.push({ labels: {}, value: m.views.every((v) => v.converged) ? 1 : 0 });
  apps.samples.push({ labels: {}, value: m.views.filter((v) => v.state !== 'not-installed').length });
  passes.samples.push({ labels: {}, value: m.passesCompleted });
  if (m.lastPass) {
    passMs.samples.push({ labels: {}, value: m.lastPass.ms / 1000 });
    if (m.lastPass.endedAtMs) passAt.samples.push({ labels: {}, value: Math.round(m.lastPass.endedAtMs / 1000) });
    const byKind = new Map<string, { ok: number; failed: number }>();
    for (const o of m.lastPass.applied) {
      const e = byKind.get(o.step.kind) ?? { ok: 0, failed: 0 };
      if (o.ok) e.ok++;
      else e.failed++;
      byKind.set(o.step.kind, e);
    }
    for (const [kind, e] of [...byKind].sort(([a], [b]) => (a < b ? -1 : 1))) {
      steps.samples.push({ labels: { kind, outcome: 'ok' }, value: e.ok });
      steps.samples.push({ labels: { kind, outcome: 'failed' }, value: e.failed });
    }
  }
  const families = [
    desiredState,
    appState,
    converged,
    backoffFailures,
    backoffSeconds,
    unitState,
    healthy,
    restarts,
    sinceChange,
    lastFailure,
    nodeConverged,
    apps,
    passMs,
    passAt,
    passes,
    steps,
  ];
  return families
    .filter((x) => x.samples.length > 0)
    .map(
      (x) =>
        `# HELP ${x.name} ${x.help}\n# TYPE ${x.name} ${x.type}\n` +
        x.samples.map((s) => `${x.name}${labelText(s.labels)} ${formatValue(s.value)}\n`).join(''),
    )
    .join('');
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  // The exposition format's escapes; our values never need them, but a unit name is the system's.
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${entries.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}
