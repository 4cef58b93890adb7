import type { Desired, Observed, UnitStatus } from './types.js';
import { containerServicesOf, servicesOf } from './plan-steps.js';

export type UnitState = 'running' | 'starting' | 'restarting' | 'stopping' | 'stopped' | 'failed' | 'missing';
export type AppState =
  | 'running'
  | 'starting'
  | 'stopping'
  | 'stopped'
  | 'failed'
  | 'partial'
  | 'waiting'
  | 'uninstalling'
  | 'not-installed';

export interface UnitView {
  unit: string;
  state: UnitState;
  activeState: string;
  subState: string;
  result: string;
  restarts: number;
  /** Why it last failed, when it did. */
  failure?: string;
}

export interface AppView {
  id: string;
  /** What the user asked for. */
  desired: 'running' | 'stopped' | 'absent';
  /** What systemd says, from the app's containers. */
  state: AppState;
  converged: boolean;
  units: UnitView[];
  lastFailure?: string;
  backoff?: string;
  /** The manifest could not be used: the app runs on its last good units. */
  error?: string;
  /** Interfaces it needs, who provides each on this node, and whether that provider is up. */
  needs?: Array<{ iface: string; optional: boolean; provider: string | null; up: boolean }>;
  /** Interfaces it provides to other apps. */
  provides?: string[];
  /** Why it is not running although it should: its provider is not up (`waiting for bitcoind (...)`). */
  waiting?: string;
}

export function unitState(u: UnitStatus | undefined): UnitState {
  if (!u || u.loadState === 'not-found') return 'missing';
  switch (u.activeState) {
    case 'active':
    case 'reloading':
      return 'running';
    case 'activating':
      return u.subState === 'auto-restart' ? 'restarting' : 'starting';
    case 'deactivating':
      return 'stopping';
    case 'failed':
      return 'failed';
    default:
      // A start job queued behind a provider still starting (After=): on its way up.
      return u.jobQueued ? 'starting' : 'stopped';
  }
}

function failureOf(u: UnitStatus | undefined): string | undefined {
  if (!u || u.result === 'success' || u.result === '') return undefined;
  const status = u.result === 'exit-code' ? ` (exit status ${u.execMainStatus})` : '';
  return `${u.result}${status}`;
}

/** Per app and unit: desired, observed, transitional states, last failure. Pure. */
export function computeStatus(desired: Desired, observed: Observed): AppView[] {
  return desired.apps.map((app): AppView => {
    const containers = containerServicesOf(app, observed);
    const units = servicesOf(app, observed).map((unit): UnitView => {
      const u = observed.units[unit];
      const failure = failureOf(u);
      return {
        unit,
        state: unitState(u),
        activeState: u?.activeState ?? 'unknown',
        subState: u?.subState ?? 'unknown',
        result: u?.result ?? 'unknown',
        restarts: u?.nRestarts ?? 0,
        ...(failure ? { failure } : {}),
      };
    });
    const states = units.filter((u) => containers.includes(u.unit)).map((u) => u.state);
    let state: AppState;
    if (app.intent === 'absent') state = 'uninstalling';
    else if (states.includes('failed')) state = 'failed';
    else if (states.includes('starting') || states.includes('restarting')) state = 'starting';
    else if (states.includes('stopping')) state = 'stopping';
    else if (states.length > 0 && states.every((s) => s === 'running')) state = 'running';
    else if (states.every((s) => s === 'stopped' || s === 'missing')) state = 'stopped';
    else state = 'partial';
    const needs = (app.rendered?.needs ?? []).map((n) => ({
      iface: n.iface,
      optional: n.optional,
      provider: n.provider ?? null,
      up: n.service !== undefined && observed.units[n.service]?.activeState === 'active',
    }));
    const down = needs.find((n) => n.provider !== null && !n.up);
    const waiting =
      app.intent === 'running' && down && state !== 'running'
        ? `waiting for ${down.iface} (${down.provider} is ${unitState(observed.units[app.rendered!.needs.find((n) => n.iface === down.iface)!.service!])})`
        : undefined;
    if (waiting && (state === 'stopped' || state === 'partial')) state = 'waiting';
    const failed = units.find((u) => u.failure && containers.includes(u.unit));
    const backoff = containers
      .filter((c) => unitState(observed.units[c]) !== 'running')
      .map((c) => observed.backoff[c])
      .find((b) => b && b.notBeforeMs > observed.nowMs);
    return {
      id: app.id,
      desired: app.intent,
      state,
      converged: (app.intent === 'running' && state === 'running') || (app.intent === 'stopped' && state === 'stopped'),
      units,
      ...(failed ? { lastFailure: `${failed.unit}: ${failed.failure}` } : {}),
      ...(backoff
        ? {
            backoff:
              `${backoff.failures} failure(s); ` +
              `next start in ${Math.ceil((backoff.notBeforeMs - observed.nowMs) / 1000)} s`,
          }
        : {}),
      ...(app.error ? { error: app.error } : {}),
      ...(needs.length > 0 ? { needs } : {}),
      ...(app.rendered?.provides.length ? { provides: app.rendered.provides } : {}),
      ...(waiting ? { waiting } : {}),
    };
  });
}
