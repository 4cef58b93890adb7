import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Supervisor, PassReport } from '../supervise/supervisor.js';
import { changeState, requestPass } from '../supervise/supervisor.js';
import { readState } from '../supervise/state-store.js';
import { checkAppId, installRefusal, IntentError } from '../supervise/intents.js';
import { listCatalog, loadCatalogApp } from '../catalog/load-catalog.js';
import { appDataDir } from '../paths.js';
import { recordSecretId } from '../supervise/secret-ids.js';
import { makeDir } from '../fs/make-dir.js';
import type { AdoptedContainer } from '../supervise/types.js';
import type { AppSpec } from '../manifest/app-spec.js';
import { LABEL_MANAGED_BY } from '../render/render-app.js';
import {
  adoptVerdict,
  compareContainer,
  parseInspect,
  type AdoptReport,
  type ExistingContainer,
} from './compare-container.js';

/**
 * `archy-quadlet adopt APP`: what adopting an app would do (the comparison of its old
 * containers with the manifest, the secrets imported, the volumes reused), and, unless it is
 * a dry run, the start of it: secrets imported, the adoption recorded, one pass run. The
 * switch itself is the supervisor's (plan-adoption.ts): level-triggered, so that a kill -9 or
 * a reboot at any point ends, after the next pass, adopted or as before.
 */

export interface AdoptOptions {
  /** Manifest secret name (`rpc-password`) → file holding its value (`--secret NAME=FILE`). */
  secrets?: Record<string, string>;
}

export interface SecretImport {
  /** The manifest's name and the Podman secret's. */
  name: string;
  secret: string;
  file: string;
  stripNewline: boolean;
  /** Where the file came from. */
  from: 'flag' | 'manifest';
}

export interface AdoptionPlan {
  app: string;
  ok: boolean;
  problems: string[];
  /** One report per old container found. */
  reports: AdoptReport[];
  /** The old containers that would be replaced, as the adoption records them. */
  containers: AdoptedContainer[];
  /** Containers of the manifest with no old container (started new). */
  newContainers: string[];
  /** Containers that look like the app's (by name) that the manifest does not know: reported, never touched. */
  unknown: string[];
  secrets: { imported: SecretImport[]; generated: string[] };
  volumes: { reused: string[]; created: string[] };
  /** The app will be running (some old container runs) or stopped. */
  intent: 'running' | 'stopped';
  /** What adopting does, in order, in words. */
  steps: string[];
}

/** The name an old container is kept under until the units are healthy. */
export function asideName(name: string): string {
  return `${name}.pre-adoption`;
}

/** Reads what is there and says what adopting would do. Changes nothing. */
export async function planAdoption(sv: Supervisor, appId: string, o: AdoptOptions = {}): Promise<AdoptionPlan> {
  checkAppId(appId);
  const state = await readState(sv.paths.stateDir);
  const current = state.apps[appId];
  if (current?.adoption && current.adoption.phase !== 'rolledBack')
    throw new IntentError(
      `"${appId}" is being adopted already (${current.adoption.phase}): archy-quadlet status ${appId}`,
    );
  if (current && current.intent !== 'absent')
    throw new IntentError(`"${appId}" is installed already: adopt takes over an app archy-quadlet does not run yet`);
  if (current && current.intent === 'absent' && current.adoption?.phase !== 'rolledBack')
    throw new IntentError(`"${appId}" is still being uninstalled: adopt it once that is done`);
  // Unit files of the app left on disk would be turned into units at the next boot (Podman's
  // own generator), whose `podman run --replace` deletes a container of the same name.
  const leftover = await readdir(join(sv.paths.unitRoot, appId)).catch(() => [] as string[]);
  if (leftover.length > 0)
    throw new IntentError(
      `unit files of "${appId}" are on disk (${join(sv.paths.unitRoot, appId)}): uninstall it, or move them away, before adopting`,
    );
  if (!(await listCatalog(sv.paths.appsDir)).includes(appId))
    throw new IntentError(`no app "${appId}" in the catalog ${sv.paths.appsDir}`);
  const entry = await loadCatalogApp(sv.paths.appsDir, appId, await sv.validator());
  if (!entry.result.ok)
    throw new IntentError(`the manifest of "${appId}" is invalid; nothing was done`, entry.result.errors);
  const app = entry.result.app;
  const problems: string[] = [];
  const refusal = await installRefusal(sv, appId, state);
  if (refusal) problems.push(refusal);

  const lookups = app.containers.map((c) => ({ plan: c, name: c.spec.adoptFrom ?? c.containerName }));
  const [inspected, all] = await Promise.all([
    sv.podman.inspectContainers(lookups.map((l) => l.name)),
    sv.podman.containers(),
  ]);
  const byName = new Map<string, ExistingContainer>(
    inspected.map((j) => parseInspect(j)).map((c) => [c.name, c] as const),
  );
  const dataDir = appDataDir(sv.paths, appId);
  const secrets = await secretImports(sv, app, o.secrets ?? {}, problems);
  const importedSecrets = new Set(secrets.imported.map((s) => s.name));
  const reports: AdoptReport[] = [];
  const containers: AdoptedContainer[] = [];
  const newContainers: string[] = [];
  for (const { plan, name } of lookups) {
    const existing = byName.get(name);
    if (!existing) {
      newContainers.push(plan.containerName);
      continue;
    }
    if (existing.labels[LABEL_MANAGED_BY] === 'archy-quadlet') {
      problems.push(`${name}: already a container of archy-quadlet's, not one to adopt`);
      continue;
    }
    reports.push(compareContainer(existing, { app, plan, dataDir, importedSecrets }));
    if (name !== plan.containerName && all[plan.containerName])
      problems.push(`${name}: a container named ${plan.containerName} is already there, in the way of its unit's`);
    if (all[asideName(name)])
      problems.push(`${name}: a container named ${asideName(name)} is in the way (the name adopt keeps it under)`);
    containers.push({
      name,
      aside: asideName(name),
      restartPolicy: existing.restartPolicy || 'no',
      wasRunning: !['created', 'configured', 'initialized', 'exited', 'stopped', 'dead'].includes(existing.state),
      stopTimeoutSec: plan.stopTimeoutSec,
    });
  }
  const verdict = adoptVerdict(reports);
  problems.push(...verdict.problems.filter((p) => p !== 'no existing container to adopt'));
  if (reports.length === 0 && containers.length === 0)
    problems.push(
      `no container to adopt: none named ${lookups.map((l) => l.name).join(', ')} (a manifest names another with containers[].adoptFrom)`,
    );
  const known = new Set(lookups.map((l) => l.name));
  const unknown = Object.keys(all)
    .filter((n) => !known.has(n) && !all[n]!.app && looksLikeApp(n, appId))
    .sort();

  const existingVolumes = await sv.podman.volumes();
  const volumeNames = Object.values(app.names.volumes).map((v) => v.name);
  const volumes = {
    reused: volumeNames.filter((v) => v in existingVolumes),
    created: volumeNames.filter((v) => !(v in existingVolumes)),
  };
  const intent: 'running' | 'stopped' = containers.some((c) => c.wasRunning) ? 'running' : 'stopped';
  const steps = [
    ...secrets.imported.map(
      (s) =>
        `import ${s.file} into the Podman secret ${s.secret} (exact bytes${s.stripNewline ? ', one trailing newline dropped' : ''})`,
    ),
    ...containers.map(
      (c) =>
        `${c.name}: restart policy ${c.restartPolicy} → no; ${c.wasRunning ? `stop (up to ${c.stopTimeoutSec} s); ` : ''}rename to ${c.aside}`,
    ),
    `write and ${intent === 'running' ? 'start' : 'load'} the units of ${appId} (${app.containers.map((c) => c.containerName).join(', ')})`,
    ...volumes.reused.map((v) => `reuse volume ${v} as it is`),
    intent === 'running'
      ? 'once every unit is healthy: remove the old containers (never their volumes); if not within the start timeout: roll back'
      : 'once the units are loaded: remove the old containers (never their volumes)',
  ];
  return {
    app: appId,
    ok: problems.length === 0,
    problems,
    reports,
    containers,
    newContainers,
    unknown,
    secrets,
    volumes,
    intent,
    steps,
  };
}

/** Names that belong to the app on an Archipelago node: `<id>`, `<id>-*`, `<id>_*`, `archy-<id>`. */
function looksLikeApp(name: string, appId: string): boolean {
  return name === appId || name.startsWith(`${appId}-`) || name.startsWith(`${appId}_`) || name === `archy-${appId}`;
}

async function secretImports(
  sv: Supervisor,
  app: AppSpec,
  flags: Record<string, string>,
  problems: string[],
): Promise<AdoptionPlan['secrets']> {
  const declared = app.manifest.secrets ?? {};
  for (const name of Object.keys(flags))
    if (!(name in declared))
      problems.push(
        `--secret ${name}: the manifest declares no secret ${name} (it has: ${Object.keys(declared).join(', ') || 'none'})`,
      );
  const imported: SecretImport[] = [];
  const generated: string[] = [];
  const ours = await sv.podman.secrets();
  const allNames = await sv.podman.secretNames();
  for (const [name, spec] of Object.entries(declared)) {
    const secret = app.names.secrets[name]!;
    if (allNames.has(secret) && ours[secret] === undefined)
      problems.push(`secret ${secret} exists and is not archy-quadlet's: remove or rename it`);
    const raw = flags[name] ?? spec.adoptFrom?.file;
    if (raw === undefined) {
      generated.push(secret);
      continue;
    }
    const file = isAbsolute(raw) ? raw : join(sv.paths.dataRoot, raw);
    const s = await stat(file).catch(() => undefined);
    if (!s?.isFile()) {
      problems.push(
        `secret ${name}: ${file} is not there (${flags[name] ? '--secret' : 'the manifest’s adoptFrom'}): pass --secret ${name}=FILE`,
      );
      continue;
    }
    imported.push({
      name,
      secret,
      file,
      stripNewline: flags[name] === undefined && spec.adoptFrom?.stripNewline === true,
      from: flags[name] !== undefined ? 'flag' : 'manifest',
    });
  }
  return { imported, generated };
}

export interface AdoptResult {
  plan: AdoptionPlan;
  /** The first pass (absent for a dry run or a refusal). */
  report?: PassReport;
}

/**
 * Adopts an app: refuses (nothing changed) when anything would be lost; else imports its
 * secrets, records the adoption and runs one pass, which starts retiring the old containers.
 * Returns at once; `status` says `adopting` until it is done or rolled back.
 */
export async function adoptApp(
  sv: Supervisor,
  appId: string,
  o: AdoptOptions & { dryRun?: boolean } = {},
): Promise<AdoptResult> {
  const plan = await planAdoption(sv, appId, o);
  if (o.dryRun || !plan.ok) return { plan };
  for (const s of plan.secrets.imported) {
    const id = await importSecretFile(sv, appId, s);
    await recordSecretId(sv.paths.stateDir, s.secret, id);
  }
  const installedAt = new Date(sv.clock.nowMs()).toISOString();
  const entry = await loadCatalogApp(sv.paths.appsDir, appId, await sv.validator());
  const version = entry.result.ok ? entry.result.app.manifest.version : undefined;
  const existingVolumes = await sv.podman.volumes();
  await changeState(sv, (state) => {
    const now = state.apps[appId];
    if (now && (now.intent !== 'absent' || (now.adoption && now.adoption.phase !== 'rolledBack')))
      throw new IntentError(`"${appId}" was installed or adopted by another process meanwhile; nothing more was done`);
    // Only volumes nobody labelled: one labelled for another app is that app's.
    const volumes = plan.volumes.reused.filter((v) => existingVolumes[v] === '');
    state.apps[appId] = {
      intent: plan.intent,
      installedAt,
      catalog: sv.paths.appsDir,
      ...(version ? { installedVersion: version } : {}),
      // It was installed long ago, by hand: its post-install work is done.
      hooksDone: { postInstall: `install ${installedAt}` },
      ...(plan.secrets.imported.length > 0 ? { importedSecrets: plan.secrets.imported.map((s) => s.secret) } : {}),
      adoption: {
        phase: 'retiring',
        containers: plan.containers,
        startedAt: installedAt,
        ...(volumes.length > 0 ? { volumes } : {}),
      },
    };
  });
  return { plan, report: await requestPass(sv) };
}

/** Podman reads the file itself (exact bytes); a value to strip goes through a private copy, removed at once. */
async function importSecretFile(sv: Supervisor, appId: string, s: SecretImport): Promise<string> {
  if (!s.stripNewline) return sv.podman.importSecret(s.secret, appId, s.file);
  const bytes = await readFile(s.file);
  const end = bytes.length - (bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? 2 : 1) : 0);
  await makeDir(sv.paths.stateDir, 0o700);
  const dir = await mkdtemp(join(sv.paths.stateDir, 'secret-import-'));
  try {
    const copy = join(dir, 'value');
    await writeFile(copy, bytes.subarray(0, end), { mode: 0o600 });
    return await sv.podman.importSecret(s.secret, appId, copy);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
