// The supervisor's plain data: what should be (Desired), what is (Observed), and the steps
// between them. No live objects: every value can be printed, logged, compared.

import type { NetworkHelpersProbe } from '../podman-heal/network-helpers.js';

export type Intent = 'running' | 'stopped' | 'absent';

export interface DesiredContainer {
  service: string;
  /** The unit file it is generated from (`<unitBase>.container`). */
  file: string;
  containerName: string;
  stopTimeoutSec: number;
  startTimeoutSec: number;
  /** The image it runs, and the unit that builds it when it is built locally. */
  image?: string;
  buildService?: string;
  /** Notify=healthy: the unit stays `activating` until the health check passes. */
  readiness: boolean;
  /** A local build's `podman build` command, as its .build unit runs it: run before an update's switch. */
  buildArgv?: string[];
  /** Pull policy of a registry image (`missing`, `never`, ...); absent for a local build. */
  pull?: string;
  /** Host ports it publishes (fixed ones only): a start waits until they are free. */
  hostPorts: HostPort[];
  /** Services of the same app it requires (started before it, stopped with it). */
  requires: string[];
  /** Providers' services it is linked to (Requisite= and After=): started only while they are up. */
  waitsFor: Array<{ iface: string; provider: string; service: string }>;
  /** Podman secrets it reads (as environment or files). */
  secrets: string[];
  /** Host paths of its file binds (`type: file`): each must exist before a start, never created. */
  bindFiles: string[];
  /** Host paths of its environment files: each must exist before a start. */
  envFiles?: string[];
  /** An init container: runs to completion (Type=oneshot); `active` once it has. */
  oneshot?: true;
  /** Config files rendered from templates into Podman secrets before it starts. */
  templates?: DesiredTemplate[];
}

/** A config file rendered from a template into a Podman secret the container mounts. */
export interface DesiredTemplate {
  /** Podman secret that holds the output. */
  secret: string;
  /** Absolute path of the template. */
  template: string;
  /** Hash of what the output is made from (text, secret ids, facts): changed means render again. */
  inputKey: string;
  /** The Podman secret each reference reads (`rpc-password` → `bitcoin-rpc-password`). */
  secrets: Record<string, string>;
  /** Node facts it puts in, as they are now (not secret). */
  facts: Record<string, string>;
}

/** A hook due to run in one of the app's containers (see plan-hooks.ts). */
export interface DesiredHook {
  point: 'postInstall' | 'postStart' | 'postUpdate' | 'preUninstall';
  /** The transient systemd unit it runs in. */
  unit: string;
  /** Container it runs in, and that container's service. */
  container: string;
  service: string;
  /** `podman exec ...` argv. */
  argv: string[];
  timeoutSec: number;
}

export interface DesiredSecret {
  /** Podman secret name, `<app>-<secret>`. */
  name: string;
  /** Its name in the manifest. */
  key: string;
  /** What it is to a person, from the manifest. */
  description?: string;
  length: number;
  alphabet: 'alphanumeric' | 'hex' | 'base64url';
}

/** What a valid manifest renders to, and the facts of it the supervisor acts on. */
export interface RenderedApp {
  files: Array<{ name: string; content: string }>;
  /** Containers in dependency order (dependencies first). */
  containers: DesiredContainer[];
  /** Every unit the files generate: networks, volumes, builds, containers. */
  services: string[];
  secrets: DesiredSecret[];
  /** Host directories of relative bind mounts: created before the app starts. */
  dataDirs: string[];
  /** Interfaces the app provides to others. */
  provides: string[];
  /** Interfaces it requires, and who provides each on this node now. */
  needs: Need[];
  /** Podman volumes exported before an update's new containers start (snapshotBeforeUpdate). */
  snapshotVolumes?: string[];
  /** The app's version (a changed one runs the postUpdate hook). */
  version?: string;
  hooks?: DesiredHook[];
}

/** One interface an app requires, as the node stands. */
export interface Need {
  iface: string;
  optional: boolean;
  /** The providing app and the service its containers wait for; absent while no app provides it. */
  provider?: string;
  service?: string;
}

/**
 * An adoption (`archy-quadlet adopt`): the app's old containers (plain `podman run` ones) are
 * replaced by its units, safely at every point (see plan-adoption.ts). Kept in the state file.
 * - retiring: the old containers are stopped (restart policy no first) and renamed aside; no unit file is written yet.
 * - starting: the units start; once they are healthy the old containers are removed (never their volumes).
 * - rollingBack: they did not become healthy: units stopped and removed, the old containers renamed back and started as they were.
 * - rolledBack: done rolling back; the app is not installed, and status says why.
 */
export interface Adoption {
  phase: 'retiring' | 'starting' | 'rollingBack' | 'rolledBack';
  containers: AdoptedContainer[];
  /** When the adoption began (ISO time). */
  startedAt: string;
  /** Wall-clock ms when the units were allowed to start: the origin of the deadline (kept across reboots). */
  switchedAtMs?: number;
  /** The same moment on the monotonic clock of this boot (see clock-marks.ts). */
  switchedAtMono?: number;
  bootId?: string;
  /** Why it was rolled back. */
  reason?: string;
  /** Volumes of the old containers the units reuse: recorded as the app's (adoptedVolumes) once adopted, not before. */
  volumes?: string[];
}

export interface AdoptedContainer {
  /** Its name when adoption began (the unit's container takes it). */
  name: string;
  /** The name it is kept under until the units are healthy. */
  aside: string;
  /** Its restart policy when adoption began: restored on a rollback. */
  restartPolicy: string;
  /** Whether it was running: started again on a rollback. */
  wasRunning: boolean;
  /**
   * Set once a rollback has started it again under its name: never started again by the
   * rollback after that (it may exit on its own, as it could before; starting it at every
   * pass would keep the rollback from ending).
   */
  restarted?: boolean;
  stopTimeoutSec: number;
}

export interface DesiredApp {
  id: string;
  intent: Intent;
  /** With intent absent: also remove volumes and secrets. */
  purge: boolean;
  /** Units started before this (ms since epoch) are restarted: `archy-quadlet restart`. */
  restartRequestedAt?: number;
  /** Present when the manifest is valid; otherwise the app's files are held as they are. */
  rendered?: RenderedApp;
  /** Not installed: only files of ours on disk say it exists; they are stopped and removed. */
  orphan?: boolean;
  /** Why the manifest could not be used (shown by status; the app is held). */
  error?: string;
  /** When it was installed (keys its postInstall hook), and at which version. */
  installedAt?: string;
  installedVersion?: string;
  /** Hooks that have run, by point: the key of the occasion each last ran for. */
  hooksDone?: Record<string, string>;
  /** An adoption in progress, or rolled back (see Adoption). */
  adoption?: Adoption;
  /** Secrets imported at adoption: never generated anew (their value is the old node's). */
  importedSecrets?: string[];
  /** Volumes that existed before adoption (so carry none of our labels), recorded as the app's: a purge removes them too. */
  adoptedVolumes?: string[];
  /** An update in progress, or rolled back (see Update). */
  update?: Update;
  /** After an update's rollback: the new rendering not tried again (`rendered` is the last good set). */
  heldBack?: RenderedApp;
  /** The hash of the unit files that last ran healthy (`filesHash`), kept with them in the state dir. */
  lastGoodHash?: string;
  /** The manifest version of the last good set. */
  lastGoodVersion?: string;
  /** The images built for it before its last good set are removed (see pruneBuildsStep). */
  lastGoodBuildsPruned?: boolean;
  /**
   * With no last good set yet (installed moments ago, before a pass saw it settled): what its
   * manifest rendered to before it was last edited, newest first (kept by the render cache).
   * An update of an app that runs on one of them keeps that one as the last good set.
   */
  earlierRenderings?: RenderedApp[];
}

/**
 * An update: a running app's unit files change (see plan-update.ts). The files that last ran
 * healthy are kept as its last good set; the new ones must become healthy in time, or the
 * last good set is put back. Kept in the state file.
 * - switching: the new files are written and their units (re)started; the gate watches them.
 * - rollingBack: they did not become healthy: the last good files are written and started again.
 * - rolledBack: the app runs its last good set; the same new files (`toHash`) are not tried again
 *   until the manifest changes or `archy-quadlet update APP --retry`.
 */
export interface Update {
  phase: 'switching' | 'rollingBack' | 'rolledBack';
  /** `filesHash` of the new files. */
  toHash: string;
  /** `filesHash` of the last good set it started from. */
  fromHash: string;
  /** The new manifest's version, and the one it came from. */
  toVersion?: string;
  fromVersion?: string;
  /** When the update began (ISO time). */
  startedAt: string;
  /** Wall-clock ms when the new files were allowed to be written: the origin of the deadline. */
  switchedAtMs: number;
  /** The same moment on the monotonic clock of this boot (see clock-marks.ts). */
  switchedAtMono?: number;
  bootId?: string;
  /** Why it was rolled back. */
  reason?: string;
  /** When the rollback began (both clocks, see clock-marks.ts): the origin of its own deadline. */
  rollingBackAt?: { atMs: number; atMono?: number; bootId?: string };
  /** The rollback ended with the last good set not healthy either: what was wrong. */
  rollbackUnhealthy?: string;
  /** The volumes exported (snapshotBeforeUpdate) once the old containers stopped: put back on a rollback. */
  snapshot?: { volumes: string[]; at: string };
  /** The snapshot was put back (rolling back). */
  restored?: true;
}

export interface Desired {
  apps: DesiredApp[];
  /** The node's own units (the node network), once an app links to another: written, never removed. */
  nodeFiles?: Array<{ name: string; content: string }>;
}

export interface UnitStatus {
  loadState: string;
  activeState: string;
  subState: string;
  result: string;
  needDaemonReload: boolean;
  nRestarts: number;
  execMainStatus: number;
  /** CLOCK_MONOTONIC µs when the main process started (0: never). */
  execMainStartMono: number;
  activeEnterMono: number;
  inactiveEnterMono: number;
  /** systemd holds a job for it (a start waiting for its provider to be active). */
  jobQueued?: true;
  /** A hook's or a pull's transient unit: the occasion it runs for, or the image it pulls (its description's `... [key]`). */
  hookKey?: string;
}

export interface ObservedFile {
  name: string;
  content: string;
  /** Modification time on the monotonic clock (µs), comparable with systemd's *Monotonic. */
  mtimeMono: number;
  owned: boolean;
  /** Owned, and its body still matches the hash in its header (not edited by hand). */
  intact: boolean;
}

/** A host port a container publishes (as `podman ps` reports it). */
export interface HostPort {
  hostIp: string;
  hostPort: number;
  protocol: string;
  /** How many consecutive ports from hostPort. */
  range: number;
}

/** `127.0.0.1:18081/tcp`; `*` for every address. */
export function portKey(p: Pick<HostPort, 'hostIp' | 'protocol'>, port: number): string {
  return `${p.hostIp || '*'}:${port}/${p.protocol}`;
}

export interface ObservedContainer {
  /** The app it belongs to: set only for containers archy-quadlet made (by label). */
  app?: string;
  /** Podman's state: created, running, paused, stopping, exited... */
  state: string;
  ports: HostPort[];
}

export interface BackoffEntry {
  failures: number;
  /** Wall-clock ms before which the unit is not started again (what spans a reboot). */
  notBeforeMs: number;
  /** The delay, and when it began on the monotonic clock of which boot (see clock-marks.ts). */
  delayMs?: number;
  setMono?: number;
  bootId?: string;
}

/** The daemon-reloads archy-quadlet asked for in this boot (state-store.ts keeps it). */
export interface ReloadLog {
  /** Every reload of ours after this moment (monotonic µs) is in `marks`: when the list began, or lost its oldest. */
  completeFrom: number;
  /** When each completed, monotonic µs, oldest first. */
  marks: number[];
  /** A reload asked for then, not yet marked done (its pass may have died: beginReloadLog). */
  pendingFrom?: number;
}

export interface Observed {
  /** Now, on the monotonic clock (µs). */
  nowMono: number;
  /** Now, ms since the epoch (for restartRequestedAt). */
  nowMs: number;
  /** This boot (/proc/sys/kernel/random/boot_id): monotonic times compare within it only. */
  bootId?: string;
  /**
   * The daemon-reloads archy-quadlet asked for in this boot (see state-store.ts ReloadLog):
   * which definition of a unit file a process started from (runsOlderFile).
   */
  reloads?: ReloadLog;
  files: Record<string, ObservedFile[]>;
  /** The node's own unit files (the node network), in the unit root's _node directory. */
  nodeFiles?: ObservedFile[];
  units: Record<string, UnitStatus>;
  /** Podman secrets by name → owning app label; undefined when not looked at this pass. */
  secrets?: Record<string, string>;
  /** Podman volumes of ours (name → app); undefined when not looked at. */
  volumes?: Record<string, string>;
  /** Every Podman container of the user by name (ours carry their app); undefined when not looked at. */
  containers?: Record<string, ObservedContainer>;
  /**
   * Services systemd does not know although their file is on disk: whether Quadlet generates
   * them from those files now (true: a daemon-reload was lost; false: Quadlet rejects the file).
   */
  generatedNow?: Record<string, boolean>;
  /**
   * A daemon-reload earlier in this pass left systemd's outdated flags as they were: asking
   * again would not clear them, so the apps are planned as if it had (the next pass asks again).
   */
  reloadFruitless?: boolean;
  /**
   * Host ports, among those of units about to start, that something holds (`portKey`); undefined when not looked at.
   */
  busyPorts?: string[];
  /**
   * File bind sources (`bindFiles`), among those of units about to start, that are missing or
   * not files; undefined when not looked at.
   */
  missingFiles?: string[];
  /**
   * Apps whose new unit files the real Quadlet generator rejects, with its message: their
   * last good files stay. Only apps whose files are about to change are checked; undefined
   * when none is, or when the generator is not installed.
   */
  rejectedRenders?: Record<string, string>;
  /** The key of the inputs each template secret was last rendered from (secret → key), as recorded. */
  templateInputs?: Record<string, string>;
  /** Podman networks of ours (name → app); undefined when not looked at. */
  networks?: Record<string, string>;
  /** Images built for our apps (id → app); undefined when not looked at. */
  images?: Record<string, string>;
  /**
   * Registry images of running apps' containers whose unit files are about to change that
   * are not in the store (a pull comes first); undefined when none was looked at.
   */
  missingImages?: string[];
  /** Failed pull units → the last line of their output (Podman's message). */
  pullFailures?: Record<string, string>;
  backoff: Record<string, BackoffEntry>;
  /** Rootless Podman's network helpers (pasta of the shared namespace, aardvark-dns); undefined when not looked at. */
  networkHelpers?: NetworkHelpersProbe;
}

type StepArgs = {
  writeUnit: { path: string; content: string };
  removeUnit: { path: string };
  ensureSecret: { secret: string; length: number; alphabet: DesiredSecret['alphabet'] };
  start: { units: string[] };
  stop: { units: string[] };
  restart: { units: string[] };
  resetFailed: { units: string[] };
  /** Stops a container gracefully (SIGTERM, then SIGKILL after its timeout): the way out of a unit stuck activating. */
  stopContainer: { container: string; timeoutSec: number };
  removeContainer: { container: string };
  /**
   * A container left from an older run (a crash skipped the unit's cleanup) has the name of
   * a unit about to start. Quadlet's `podman run --replace` would stop it and start at once,
   * before pasta has released its ports ("Address already in use": a failed start). So: stop
   * it gracefully in the background when it runs, else remove it; the start waits for the
   * ports. Only while `unit` has not started: checked again just before acting.
   */
  clearStaleContainer: { unit: string; container: string; running: boolean; timeoutSec: number };
  removeVolume: { volume: string };
  /**
   * Adoption: takes an old container out of the way of the app's unit. Its restart policy is
   * set to no first (podman-restart.service would start it at boot); running, it is stopped in
   * the background (its stop timeout); stopped, it is renamed to `aside`.
   */
  retireContainer: { container: string; aside: string; running: boolean; timeoutSec: number };
  /**
   * Adoption rolled back: the old container, kept as `aside` (stopped), has its restart policy
   * restored and is renamed back, then started if it ran. Without `aside`: renamed back
   * already, only started.
   */
  restoreContainer: { container: string; aside?: string; restartPolicy: string; start: boolean };
  /** Adoption: every old container is out of the way; the units may be written and started. */
  adoptSwitch: Record<never, never>;
  /** Adoption: the units are healthy and the old containers removed. */
  adoptDone: Record<never, never>;
  /** Adoption: the units did not become healthy; what was there is put back. */
  adoptRollBack: { why: string };
  /** Adoption: rolled back, the old containers running as before. */
  adoptRolledBack: Record<never, never>;
  removeNetwork: { network: string };
  removeImage: { image: string };
  removeSecret: { secret: string };
  /** Renders a template with the secrets and facts it reads into the Podman secret a container mounts. */
  renderTemplate: DesiredTemplate;
  /** Removes a rendered config file's Podman secret (its app is gone, or it is no longer rendered) and forgets its inputs. */
  removeRenderedFile: { secret: string };
  /** Pulls a container's new image in a transient unit (podman pull), without waiting for it: see plan-pulls.ts. */
  pullImage: { unit: string; image: string };
  /** Builds a container's new local image in a transient unit (podman build, as its .build unit would), without waiting for it. */
  buildImage: { unit: string; image: string; argv: string[] };
  /** Runs a hook in a transient unit (podman exec in the container), without waiting for it. */
  runHook: { point: DesiredHook['point']; unit: string; argv: string[]; timeoutSec: number; key: string };
  /**
   * Records that a hook ran for its occasion (`key`), and lets its finished transient unit go
   * (`unit`; absent when nothing ran: a version seen at install needs no postUpdate).
   */
  hookDone: { point: DesiredHook['point']; key: string; unit?: string };
  setBackoff: {
    unit: string;
    failures: number;
    notBeforeMs: number;
    delayMs?: number;
    setMono?: number;
    bootId?: string;
  };
  clearBackoff: { unit: string };
  forgetApp: Record<never, never>;
  /** Update: the app's files are about to change while it runs; the gate watches the new ones (plan-update.ts). */
  beginUpdate: {
    toHash: string;
    fromHash: string;
    toVersion?: string;
    fromVersion?: string;
    /** No last good set yet: the earlier rendering the app runs on now (earlierRenderings) is recorded as it first. */
    recordRunning?: boolean;
  };
  /** The app runs healthy on these files: they (with the image ids its containers run) become its last good set. */
  recordLastGood: { hash: string };
  /** The app runs settled on its last good set: the images built for it that no container uses, bar these tags, go. */
  pruneBuilds: { keep: string[]; hash: string };
  /** Update: the new files did not become healthy; the last good set is put back. */
  updateRollBack: { why: string };
  /** Update: the old containers are stopped; these volumes are exported (`podman volume export`) before the new ones start. */
  snapshotVolumes: { volumes: string[] };
  /** Update rolled back: the volumes are emptied and their snapshots imported, before the last good set starts. */
  restoreVolumes: { volumes: string[] };
  /** Update: rolled back, the last good set running again. */
  /** `unhealthy`: the last good set did not come back healthy within its deadline either. */
  updateRolledBack: { unhealthy?: string };
  /** Nothing to do until something in flight finishes (or a person acts); reported, not executed. */
  /** held: nothing will change until a person acts (a foreign file, a rejected render). */
  wait: { unit?: string; path?: string; held?: true };
};
/** Steps of one app. */
type AppStep = { [K in keyof StepArgs]: { kind: K; app: string; reason: string } & StepArgs[K] }[keyof StepArgs];
/** Steps of the whole node (one daemon-reload serves every app; the node network's file): they name no app. */
type NodeStep =
  | { kind: 'daemonReload'; app?: undefined; reason: string }
  /** The shared rootless network namespace's pasta is gone: Podman starts it again when the namespace is entered. */
  | { kind: 'restartNetnsHelper'; app?: undefined; reason: string }
  /** aardvark-dns is gone: netavark starts it again when it sets up a container's network (`podman network reload`). */
  | { kind: 'restartDnsHelper'; app?: undefined; container: string; reason: string }
  | { kind: 'writeUnit'; app?: undefined; path: string; content: string; reason: string };
export type Step = AppStep | NodeStep;
export type StepKind = Step['kind'];
export type StepOf<K extends StepKind> = Extract<Step, { kind: K }>;
