import { pullableContainers, pullLogName, pullUnitOf } from '../supervise/plan-pulls.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { isMap, isScalar, parseDocument, visit } from 'yaml';
import type { Supervisor } from '../supervise/supervisor.js';
import { currentView } from '../supervise/supervisor.js';
import { computeStatus, type AppView } from '../supervise/status.js';
import { findQuadlet, runQuadletDryRun } from '../output/quadlet-generator.js';
import { subIdCount } from '../doctor/gather-facts.js';
import type { AppEvidence, UnitEvidence } from './diagnose.js';
import { parseTemplate, redactedTemplate } from '../templates/config-template.js';

export interface Explanation {
  app: string;
  manifestFile: string;
  /** The manifest with secret-looking values redacted. */
  manifest: string;
  files: Array<{ name: string; content: string }>;
  /** What the real generator makes of the files: service name → unit text. */
  services: Record<string, string>;
  generatorProblems: string[];
  view?: AppView;
  evidence: AppEvidence;
  /** Config files rendered from templates, as the container reads them but with every secret redacted. */
  templates: Array<{ container: string; template: string; secret: string; redacted: string }>;
  /** Hooks: where each stands, and what its last run printed. */
  hooks: Array<{ point: string; container: string; ranFor?: string; unit: string; state: string; output: string[] }>;
  /** The last pull of each container's new image before an update (plan-pulls.ts): what Podman printed. */
  pulls: Array<{ container: string; unit: string; output: string[] }>;
}

/** Lines of a hook's output shown. */
const HOOK_OUTPUT_LINES = 40;

const SECRET_KEY = /pass|secret|token|key|credential|private|auth/i;

/** Values under keys that look like credentials become <redacted> (the manifest should hold none, but might). */
export function redactManifest(text: string): string {
  const doc = parseDocument(text);
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && SECRET_KEY.test(String(pair.key.value)) && isScalar(pair.value))
        pair.value.value = '<redacted>';
      if (isScalar(pair.key) && /^environment$/i.test(String(pair.key.value)) && isMap(pair.value)) {
        for (const p of pair.value.items)
          if (isScalar(p.key) && SECRET_KEY.test(String(p.key.value)) && isScalar(p.value))
            p.value.value = '<redacted>';
      }
    },
  });
  return doc.toString();
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port, timeout: 300 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

/** A probe that fails is a fact not known: undefined, never an error. */
const probe = <T>(p: Promise<T>): Promise<T | undefined> => p.catch(() => undefined);

export async function explainApp(
  sv: Supervisor,
  appId: string,
  env: Record<string, string | undefined>,
): Promise<Explanation> {
  const view = await currentView(sv);
  const app = view.desired.apps.find((a) => a.id === appId);
  const manifestFile = join(sv.paths.appsDir, appId, 'manifest.yml');
  const manifestText = await readFile(manifestFile, 'utf8').catch(() => '');
  const files =
    app?.rendered?.files ??
    (view.observed.files[appId] ?? []).filter((f) => f.owned).map((f) => ({ name: f.name, content: f.content }));

  // The real generator on the app's files alone: its .service units and its complaints.
  let services: Record<string, string> = {};
  let problems: string[] = [];
  const bin = await findQuadlet(env);
  if (bin && files.length) {
    const dir = await mkdtemp(join(tmpdir(), 'archy-quadlet-explain-'));
    try {
      for (const f of files) await writeFile(join(dir, f.name), f.content);
      const r = await runQuadletDryRun(bin, [dir]);
      services = Object.fromEntries(r.services);
      problems = r.problems.map((p) => p.message);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const secrets = await probe(sv.podman.secretNames());
  const portStart =
    Number((await readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').catch(() => '1024')).trim()) ||
    1024;
  const { username, uid } = userInfo();
  const subOk = [
    await readFile('/etc/subuid', 'utf8').catch(() => ''),
    await readFile('/etc/subgid', 'utf8').catch(() => ''),
  ].every((t) => (subIdCount(t, username, uid) ?? 0) >= 65536);
  const journalAvailable =
    (
      await execa('journalctl', ['--user', '-n', '1', '--no-pager', '-q'], {
        reject: false,
        timeout: 10_000,
        stdin: 'ignore',
      }).catch(() => undefined)
    )?.exitCode === 0;

  const units: UnitEvidence[] = [];
  for (const c of app?.rendered?.containers ?? []) {
    const { file } = c;
    const status = view.observed.units[c.service];
    const notRunning = status?.activeState !== 'active';
    // A built image comes from its .build unit, not a registry: the image findings (short
    // name, not pulled) would misread its absence, so only a registry image is probed.
    const imagePresent = c.image && !c.buildService ? await probe(sv.podman.imageExists(c.image)) : undefined;
    const hostPorts = c.hostPorts.map((p) => p.hostPort);
    const health = await probe(sv.podman.health(c.containerName));
    const lastExit = await probe(sv.podman.lastExit(c.containerName));
    const journal = journalAvailable
      ? String(
          (
            await execa('journalctl', ['--user', '-u', c.service, '-n', '40', '--no-pager', '-o', 'cat'], {
              reject: false,
              timeout: 10_000,
              stdin: 'ignore',
            })
          ).stdout,
        )
          .split('\n')
          .filter(Boolean)
      : [];
    const generatorError = problems.find((p) => p.includes(`"${file}"`) || p.includes(`/${file}`));
    units.push({
      unit: c.service,
      file,
      container: c.containerName,
      ...(status ? { status } : {}),
      ...(c.image ? { image: c.image } : {}),
      pullNever: c.pull === 'never',
      readiness: c.readiness,
      stopTimeoutSec: c.stopTimeoutSec,
      hostPorts,
      requires: c.requires,
      providers: c.waitsFor.map((w) => ({
        iface: w.iface,
        provider: w.provider,
        activeState: view.observed.units[w.service]?.activeState ?? 'unknown',
      })),
      ...(imagePresent !== undefined ? { imagePresent } : {}),
      missingSecrets: secrets ? c.secrets.filter((n) => !secrets.has(n)) : [],
      portsInUse: notRunning
        ? (await Promise.all(hostPorts.map(async (p) => ((await portAnswers(p)) ? p : 0)))).filter(Boolean)
        : [],
      ...(health ? { health } : {}),
      ...(lastExit ? { lastExit } : {}),
      ...(generatorError ? { generatorError } : {}),
      journal,
    } as UnitEvidence);
  }
  const templates: Explanation['templates'] = [];
  for (const c of app?.rendered?.containers ?? [])
    for (const t of c.templates ?? []) {
      const parsed = parseTemplate(await readFile(t.template, 'utf8').catch(() => ''));
      templates.push({
        container: c.containerName,
        template: t.template,
        secret: t.secret,
        redacted: parsed.ok
          ? redactedTemplate(parsed.parts, { fact: (f) => t.facts[f] ?? `‹node.${f}›` })
          : `(cannot be parsed: line ${parsed.problems[0]!.line}: ${parsed.problems[0]!.message})`,
      });
    }
  const hooks: Explanation['hooks'] = [];
  for (const h of app?.rendered?.hooks ?? []) {
    const u = view.observed.units[h.unit];
    const log = await readFile(join(sv.paths.stateDir, 'hooks', appId, `${h.point}.log`), 'utf8').catch(() => '');
    const ranFor = app?.hooksDone?.[h.point];
    const state =
      !u || u.loadState === 'not-found'
        ? ranFor
          ? 'done'
          : 'not run'
        : u.activeState === 'failed'
          ? `failed (${u.result === 'exit-code' ? `exit code ${u.execMainStatus}` : u.result})`
          : u.subState === 'exited'
            ? 'succeeded'
            : u.activeState;
    hooks.push({
      point: h.point,
      container: h.container,
      ...(ranFor ? { ranFor } : {}),
      unit: h.unit,
      state,
      output: log.split('\n').filter(Boolean).slice(-HOOK_OUTPUT_LINES),
    });
  }
  const pulls: Explanation['pulls'] = [];
  for (const c of app ? pullableContainers(app) : []) {
    const unit = pullUnitOf(c.service);
    const log = await readFile(join(sv.paths.stateDir, 'hooks', appId, pullLogName(unit)), 'utf8').catch(() => '');
    if (log.trim())
      pulls.push({ container: c.containerName, unit, output: log.split('\n').filter(Boolean).slice(-10) });
  }
  const statusView = app ? computeStatus({ apps: [app] }, view.observed)[0] : undefined;
  return {
    app: appId,
    manifestFile,
    manifest: manifestText ? redactManifest(manifestText) : '',
    files,
    services,
    generatorProblems: problems,
    ...(statusView ? { view: statusView } : {}),
    evidence: { app: appId, units, unprivilegedPortStart: portStart, subidsOk: subOk },
    templates,
    hooks,
    pulls,
  };
}
