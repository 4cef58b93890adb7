import { asUser } from '../support/lab-user.js';
import { http, type LabNode } from '../support/node.js';
import { GATE_APPS } from './gate-apps.js';

// Watches the node while the gate runs: `status --json`, then what is really there
// (containers, answers on the apps' ports). Reality is looked at *after* status, so a
// claim that only moves one way during an event can be checked against it: "stopped"
// during a stop means the container was already gone when status answered.

export interface Sample {
  /** When status was asked (ms since epoch). */
  at: number;
  /** App → state; an app missing from status is "absent". */
  states: Record<string, string>;
  containers: Set<string>;
  reachable: Record<string, boolean>;
}

export interface StatusSampler {
  samples: Sample[];
  between(startMs: number, endMs: number): Sample[];
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
  /** Status answers that were not JSON or failed (each a message). */
  errors: string[];
}

export function startSampler(node: LabNode, everyMs = 250): StatusSampler {
  const samples: Sample[] = [];
  const errors: string[] = [];
  let running = true;
  let paused = false;
  const loop = (async () => {
    while (running) {
      if (!paused) {
        const at = Date.now();
        const r = await node.aq(['status', '--json'], { reject: false, timeout: 30_000 });
        if (!paused) {
          if (r.exitCode !== 0) errors.push(`status exited ${r.exitCode}: ${r.stderr.trim().split('\n')[0]}`);
          else {
            const states: Record<string, string> = {};
            for (const a of (JSON.parse(r.stdout) as { apps: Array<{ id: string; state: string }> }).apps)
              states[a.id] = a.state;
            const [ps, ...answers] = await Promise.all([
              asUser(['podman', 'ps', '-a', '--format', '{{.Names}}'], { reject: false }),
              ...GATE_APPS.map(async (a) => {
                const body = await http(a.port, a.path);
                return body !== undefined && a.works(body);
              }),
            ]);
            const reachable: Record<string, boolean> = {};
            GATE_APPS.forEach((a, i) => (reachable[a.id] = answers[i]!));
            if (!paused)
              samples.push({
                at,
                states,
                containers: new Set(String(ps.stdout).split('\n').filter(Boolean)),
                reachable,
              });
          }
        }
      }
      await new Promise((res) => setTimeout(res, everyMs));
    }
  })();
  return {
    samples,
    errors,
    between: (s, e) => samples.filter((x) => x.at >= s && x.at <= e),
    pause: () => (paused = true),
    resume: () => (paused = false),
    async stop() {
      running = false;
      await loop;
    },
  };
}
