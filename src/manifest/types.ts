// The manifest as written in apps/<id>/manifest.yml, after schema validation.
// Kept in step with schema/manifest.schema.json (same fields, required where not optional)
// by test/manifest/schema-types.test.ts.

export type Duration = number | string;
export type NetworkMode = 'private' | 'default' | 'host' | 'none';
export type SelinuxLabel = 'shared' | 'private' | 'none';

export interface SecretSpec {
  length?: number;
  alphabet?: 'alphanumeric' | 'hex' | 'base64url';
  /** What it is to a person (an admin password): shown by `secret list`. */
  description?: string;
  /** `archy-quadlet adopt`: the file holding its value on a node being adopted (relative to the data root). */
  adoptFrom?: { file: string; stripNewline?: boolean };
}

export interface VolumeSpec {
  labels?: Record<string, string>;
  /** Exported before an update's new containers start, put back on its rollback. */
  snapshotBeforeUpdate?: boolean;
}

export interface BuildSpec {
  context: string;
  containerfile?: string;
  args?: Record<string, string>;
  target?: string;
}

export interface PortSpec {
  hostIp?: string;
  hostPort?: number;
  containerPort: number;
  protocol?: 'tcp' | 'udp';
}

export interface VolumeMountSpec {
  volume: string;
  target: string;
  readOnly?: boolean;
  chown?: boolean;
  selinux?: SelinuxLabel;
}

export interface BindMountSpec {
  source: string;
  target: string;
  /** directory (default): a missing relative source is created; file: must exist, never created. */
  type?: 'directory' | 'file';
  readOnly?: boolean;
  chown?: boolean;
  selinux?: SelinuxLabel;
}

export interface TmpfsSpec {
  target: string;
  size?: string;
  mode?: string;
}

export interface SecretFileSpec {
  secret: string;
  target: string;
  uid?: number;
  gid?: number;
  mode?: string;
}

export interface HealthcheckSpec {
  command?: string | string[];
  http?: string;
  tcp?: number;
  interval?: Duration;
  timeout?: Duration;
  retries?: number;
  startPeriod?: Duration;
  onFailure?: 'none' | 'kill' | 'restart' | 'stop';
  readiness?: boolean;
}

export interface DeviceSpec {
  host: string;
  container?: string;
  permissions?: string;
}

/** One resource limit apart (`ulimits.<name>`); a single number sets both alike. */
export interface UlimitSpec {
  soft: number;
  hard: number;
}

/** A config file rendered from a template of the app's folder (`containers[].templates`). */
export interface TemplateFileSpec {
  template: string;
  target: string;
  uid?: number;
  gid?: number;
  mode?: string;
}

/** A command run in a running container at a point of the app's life (`hooks.<point>`). */
export interface HookSpec {
  container: string;
  command: string | string[];
  user?: string;
  timeout?: Duration;
}

export interface HooksSpec {
  postInstall?: HookSpec;
  postStart?: HookSpec;
  postUpdate?: HookSpec;
  preUninstall?: HookSpec;
}

export type HookPoint = keyof HooksSpec;

export interface ContainerSpec {
  name: string;
  image?: string;
  build?: BuildSpec;
  pull?: 'missing' | 'newer' | 'always' | 'never';
  command?: string[];
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  environment?: Record<string, string | number | boolean>;
  secretEnvironment?: Record<string, string>;
  secretFiles?: SecretFileSpec[];
  ports?: PortSpec[];
  volumes?: VolumeMountSpec[];
  binds?: BindMountSpec[];
  tmpfs?: TmpfsSpec[];
  capabilities?: { add?: string[]; drop?: string[]; podmanDefaults?: boolean };
  noNewPrivileges?: boolean;
  readOnly?: boolean;
  memory?: string;
  init?: boolean;
  oneshot?: boolean;
  /** The Podman container's name when not the default (`archy-bitcoin-ui`). */
  containerName?: string;
  /** `archy-quadlet adopt`: the name of the container running it today, when not its own. */
  adoptFrom?: string;
  network?: 'host' | 'none';
  environmentFiles?: string[];
  templates?: TemplateFileSpec[];
  shmSize?: string;
  extraHosts?: Record<string, string>;
  ulimits?: Record<string, number | UlimitSpec>;
  healthcheck?: HealthcheckSpec;
  stopTimeout?: Duration;
  stopSignal?: string;
  startTimeout?: Duration;
  restart?: 'always' | 'on-failure' | 'no';
  dependsOn?: Record<string, 'hard' | 'soft'>;
  networkAliases?: string[];
  labels?: Record<string, string>;
  devices?: DeviceSpec[];
}

/** An interface an app offers to other apps (`provides.<interface>`). */
export interface ProvidedInterfaceSpec {
  container: string;
  port: number;
  secrets?: string[];
  volumes?: string[];
  default?: boolean;
}

/** An interface an app needs from another app (`requires.<interface>`). */
export interface RequiredInterfaceSpec {
  optional?: boolean;
  containers?: string[];
}

export interface Manifest {
  schemaVersion: 1;
  id: string;
  name: string;
  version: string;
  description?: string;
  network?: NetworkMode;
  provides?: Record<string, ProvidedInterfaceSpec>;
  requires?: Record<string, RequiredInterfaceSpec>;
  secrets?: Record<string, SecretSpec>;
  volumes?: Record<string, VolumeSpec>;
  hooks?: HooksSpec;
  containers: ContainerSpec[];
}

/** A path into the manifest, as keys and indexes: ['containers', 1, 'ports', 0]. */
export type FieldPath = ReadonlyArray<string | number>;

/** One problem found in a manifest, located in its file. */
export interface ManifestError {
  file: string;
  line: number;
  col: number;
  /** Dotted field path as a user reads it: containers[1].ports[0].hostPort */
  field: string;
  message: string;
}
