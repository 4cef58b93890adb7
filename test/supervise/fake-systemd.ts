import type {
  Desired,
  DesiredApp,
  DesiredContainer,
  Observed,
  ObservedFile,
  Step,
  UnitStatus,
} from '../../src/supervise/types.js';
import { serviceOfUnitFile as serviceOfFile } from '../../src/names.js';

// A small systemd + Podman of plain data for planner tests: applies steps the way the real
// ones do, one tick at a time (activating → active, deactivating → inactive).

export const S = 1_000_000;

export function unit(activeState: string, extra: Partial<UnitStatus> = {}): UnitStatus {
  return {
    loadState: 'loaded',
    activeState,
    subState: activeState === 'active' ? 'running' : activeState === 'failed' ? 'failed' : 'dead',
    result: activeState === 'failed' ? 'exit-code' : 'success',
    needDaemonReload: false,
    nRestarts: 0,
    execMainStatus: 0,
    execMainStartMono: 100 * S,
    activeEnterMono: 100 * S,
    inactiveEnterMono: 0,
    ...extra,
  };
}

export function file(
  name: string,
  content = `# Written by archy-quadlet from x. Do not edit\n# archy-quadlet: app=a sha256=${'0'.repeat(64)}\n\n[X]\n`,
  mtimeMono = 50 * S,
): ObservedFile {
  return { name, content, mtimeMono, owned: true, intact: true };
}

export function observed(partial: Partial<Observed> = {}): Observed {
  return {
    nowMono: 1000 * S,
    nowMs: 1_800_000_000_000,
    files: {},
    units: {},
    secrets: {},
    volumes: {},
    containers: {},
    networks: {},
    images: {},
    backoff: {},
    ...partial,
  };
}

/** A desired app with containers c1..cn (c1 first in dependency order), all files given as content. */
export function app(
  id: string,
  intent: DesiredApp['intent'],
  containers: string[],
  extra: Partial<DesiredApp> = {},
): DesiredApp {
  const files = [
    ...containers.map((c) => ({ name: `${id}-${c}.container`, content: `[Container] ${id}-${c}\n` })),
    ...(containers.length > 1 ? [{ name: `${id}.network`, content: `[Network] ${id}\n` }] : []),
  ].sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    id,
    intent,
    purge: false,
    rendered: {
      files,
      containers: containers.map((c) => container(`${id}-${c}`)),
      services: [
        ...(containers.length > 1 ? [`${id}-network.service`] : []),
        ...containers.map((c) => `${id}-${c}.service`),
      ],
      secrets: [],
      dataDirs: [],
      provides: [],
      needs: [],
    },
    ...extra,
  };
}

/** A container of a desired app, unit base `base`, with defaults a test can override. */
export function container(base: string, extra: Partial<DesiredContainer> = {}): DesiredContainer {
  return {
    service: `${base}.service`,
    file: `${base}.container`,
    containerName: base,
    stopTimeoutSec: 10,
    startTimeoutSec: 60,
    readiness: true,
    hostPorts: [],
    requires: [],
    waitsFor: [],
    secrets: [],
    bindFiles: [],
    ...extra,
  };
}

/** Observed state of an app that is exactly as desired, with its containers in `state`. */
export function converged(apps: DesiredApp[], state = 'active'): Observed {
  const o = observed();
  for (const a of apps) {
    o.files[a.id] = a.rendered!.files.map((f) => ({ ...file(f.name, f.content) }));
    for (const f of a.rendered!.files) {
      const svc = serviceOfFile(f.name)!;
      const isContainer = f.name.endsWith('.container');
      o.units[svc] = unit(a.intent === 'running' || !isContainer ? (isContainer ? state : 'active') : 'inactive');
    }
    for (const s of a.rendered!.secrets) o.secrets![s.name] = a.id;
  }
  return o;
}

/** Applies a batch, then lets time pass one tick. Returns the new state (inputs untouched). */
export function applyFake(desired: Desired, o: Observed, steps: Step[]): { desired: Desired; observed: Observed } {
  const d: Desired = structuredClone(desired);
  const n: Observed = structuredClone(o);
  n.nowMono += 2 * S;
  n.nowMs += 2000;
  const u = (name: string) => (n.units[name] ??= unit('inactive', { loadState: 'not-found' }));
  for (const st of steps) {
    switch (st.kind) {
      case 'writeUnit': {
        const [appId, name] = st.path.split('/') as [string, string];
        const list = (n.files[appId] ??= []);
        const f = { ...file(name!, st.content, n.nowMono) };
        const i = list.findIndex((x) => x.name === name);
        if (i >= 0) list[i] = f;
        else list.push(f);
        const svc = serviceOfFile(name!);
        if (svc && n.units[svc] && n.units[svc]!.loadState !== 'not-found') n.units[svc]!.needDaemonReload = true;
        break;
      }
      case 'removeUnit': {
        const [appId, name] = st.path.split('/') as [string, string];
        n.files[appId] = (n.files[appId] ?? []).filter((x) => x.name !== name);
        if (n.files[appId]!.length === 0) delete n.files[appId];
        break;
      }
      case 'daemonReload': {
        const present = new Set(
          Object.values(n.files)
            .flat()
            .map((f) => serviceOfFile(f.name)),
        );
        for (const [name, s] of Object.entries(n.units)) {
          s.needDaemonReload = false;
          if (!present.has(name) && (s.activeState === 'inactive' || s.activeState === 'failed')) delete n.units[name];
        }
        for (const svc of present)
          if (svc && (!n.units[svc] || n.units[svc]!.loadState === 'not-found')) n.units[svc] = unit('inactive');
        break;
      }
      case 'start':
        for (const name of st.units)
          if (u(name).loadState !== 'not-found' && u(name).activeState !== 'failed')
            Object.assign(u(name), { activeState: 'activating', subState: 'start' });
        break;
      case 'restart':
        for (const name of st.units) Object.assign(u(name), { activeState: 'activating', subState: 'start' });
        break;
      case 'stop':
        for (const name of st.units)
          if (u(name).activeState !== 'inactive')
            Object.assign(u(name), { activeState: 'deactivating', subState: 'stop' });
        break;
      case 'stopContainer':
        break; // the pending stop completes on the next tick
      case 'resetFailed':
        for (const name of st.units)
          if (u(name).activeState === 'failed') Object.assign(u(name), { activeState: 'inactive', subState: 'dead' });
        break;
      case 'ensureSecret':
        n.secrets![st.secret] = st.app;
        break;
      case 'removeSecret':
        delete n.secrets![st.secret];
        break;
      case 'removeVolume':
        delete n.volumes![st.volume];
        break;
      case 'removeContainer':
        delete n.containers![st.container];
        break;
      case 'clearStaleContainer':
        if (st.running) n.containers![st.container]!.state = 'exited';
        else delete n.containers![st.container];
        break;
      case 'removeNetwork':
        delete n.networks![st.network];
        break;
      case 'removeImage':
        delete n.images![st.image];
        break;
      case 'setBackoff':
        n.backoff[st.unit] = { failures: st.failures, notBeforeMs: st.notBeforeMs };
        break;
      case 'clearBackoff':
        delete n.backoff[st.unit];
        break;
      case 'forgetApp':
        d.apps = d.apps.filter((a) => a.id !== st.app);
        break;
      case 'wait':
        break;
    }
  }
  // One tick later: jobs in flight finish.
  for (const s of Object.values(n.units)) {
    if (s.activeState === 'activating')
      Object.assign(s, {
        activeState: 'active',
        subState: 'running',
        execMainStartMono: n.nowMono,
        activeEnterMono: n.nowMono,
      });
    else if (s.activeState === 'deactivating')
      Object.assign(s, { activeState: 'inactive', subState: 'dead', inactiveEnterMono: n.nowMono });
  }
  return { desired: d, observed: n };
}
