// The supervisor's plain data: what should be (Desired), what is (Observed), and the steps
// between them. No live objects: every value can be printed, logged, compared.

export type Intent = 'running' | 'stopped' | 'absent';

export interface DesiredContainer {
  service: string;
  containerName: string;
  stopTimeoutSec: number;
  startTimeoutSec: number;
  /** The image it runs, and the unit that builds it when it is built locally. */
  image?: string;
  buildService?: string;
  /** Notify=healthy: the unit stays `activating` until the health check passes. */
  readiness: boolean;
}

export interface DesiredSecret {
  /** Podman secret name, `<app>-<secret>`. */
  name: string;
  length: number;
  alphabet: 'alphanumeric' | 'hex' | 'base64url';
}

export interface DesiredApp {
  id: string;
  intent: Intent;
  /** With intent absent: also remove volumes and secrets. */
  purge: boolean;
  /** Units started before this (ms since epoch) are restarted: `archy-quadlet restart`. */
  restartRequestedAt?: number;
  /** Present when the manifest is valid; otherwise the app's files are held as they are. */
  spec?: {
    files: Array<{ name: string; content: string }>;
    /** Containers in dependency order (dependencies first). */
    containers: DesiredContainer[];
    /** Every unit the files generate: networks, volumes, builds, containers. */
    services: string[];
    secrets: DesiredSecret[];
    /** Host directories of relative bind mounts: created before the app starts. */
    dataDirs: string[];
  };
  /** Why the manifest could not be used (shown by status; the app is held). */
  error?: string;
}

export interface Desired {
  apps: DesiredApp[];
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

export interface BackoffEntry {
  failures: number;
  /** Wall-clock ms before which the unit is not started again (wall clock: kept across reboots). */
  notBeforeMs: number;
}

export interface Observed {
  /** Now, on the monotonic clock (µs). */
  nowMono: number;
  /** Now, ms since the epoch (for restartRequestedAt). */
  nowMs: number;
  files: Record<string, ObservedFile[]>;
  units: Record<string, UnitStatus>;
  /** Podman secrets by name → owning app label; undefined when not looked at this pass. */
  secrets?: Record<string, string>;
  /** Podman volumes of ours (name → app); undefined when not looked at. */
  volumes?: Record<string, string>;
  /** Podman containers of ours (name → app); undefined when not looked at. */
  containers?: Record<string, string>;
  /** Podman networks of ours (name → app); undefined when not looked at. */
  networks?: Record<string, string>;
  /** Images built for our apps (id → app); undefined when not looked at. */
  images?: Record<string, string>;
  backoff: Record<string, BackoffEntry>;
}

type StepArgs = {
  writeUnit: { path: string; content: string };
  removeUnit: { path: string };
  daemonReload: Record<never, never>;
  ensureSecret: { secret: string; length: number; alphabet: DesiredSecret['alphabet'] };
  start: { units: string[] };
  stop: { units: string[] };
  restart: { units: string[] };
  resetFailed: { units: string[] };
  /** Stops a container gracefully (SIGTERM, then SIGKILL after its timeout): the way out of a unit stuck activating. */
  stopContainer: { container: string; timeoutSec: number };
  removeContainer: { container: string };
  removeVolume: { volume: string };
  removeNetwork: { network: string };
  removeImage: { image: string };
  removeSecret: { secret: string };
  setBackoff: { unit: string; failures: number; notBeforeMs: number };
  clearBackoff: { unit: string };
  forgetApp: Record<never, never>;
  /** Nothing to do until something in flight finishes; reported, not executed. */
  wait: { unit?: string };
};
export type StepKind = keyof StepArgs;
export type Step = { [K in StepKind]: { kind: K; app: string; reason: string } & StepArgs[K] }[StepKind];
export type StepOf<K extends StepKind> = Extract<Step, { kind: K }>;
