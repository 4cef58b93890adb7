import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { toAppSpec } from '../../src/manifest/app-spec.js';
import type { Manifest } from '../../src/manifest/types.js';
import { CONTAINER_KEYS, renderApp } from '../../src/render/render-app.js';

// The [Container] table of render-app.ts, checked against what Quadlet 5.4 accepts and
// against the manifest schema, so a misspelt key or a wrong field fails here and not on a node.

/** The keys of the [Container] group Quadlet 5.4 accepts; it refuses the unit on any other. */
const QUADLET_54_CONTAINER_KEYS = new Set([
  'AddCapability',
  'AddDevice',
  'AddHost',
  'Annotation',
  'AutoUpdate',
  'CgroupsMode',
  'ContainerName',
  'ContainersConfModule',
  'DNS',
  'DNSOption',
  'DNSSearch',
  'DropCapability',
  'Entrypoint',
  'Environment',
  'EnvironmentFile',
  'EnvironmentHost',
  'Exec',
  'ExposeHostPort',
  'GIDMap',
  'GlobalArgs',
  'Group',
  'GroupAdd',
  'HealthCmd',
  'HealthInterval',
  'HealthLogDestination',
  'HealthMaxLogCount',
  'HealthMaxLogSize',
  'HealthOnFailure',
  'HealthRetries',
  'HealthStartPeriod',
  'HealthStartupCmd',
  'HealthStartupInterval',
  'HealthStartupRetries',
  'HealthStartupSuccess',
  'HealthStartupTimeout',
  'HealthTimeout',
  'HostName',
  'Image',
  'IP',
  'IP6',
  'Label',
  'LogDriver',
  'LogOpt',
  'Mask',
  'Mount',
  'Network',
  'NetworkAlias',
  'NoNewPrivileges',
  'Notify',
  'PidsLimit',
  'Pod',
  'PodmanArgs',
  'PublishPort',
  'Pull',
  'ReadOnly',
  'ReadOnlyTmpfs',
  'Rootfs',
  'RunInit',
  'SeccompProfile',
  'Secret',
  'SecurityLabelDisable',
  'SecurityLabelFileType',
  'SecurityLabelLevel',
  'SecurityLabelNested',
  'SecurityLabelType',
  'ShmSize',
  'StartWithPod',
  'StopSignal',
  'StopTimeout',
  'SubGIDMap',
  'SubUIDMap',
  'Sysctl',
  'Timezone',
  'Tmpfs',
  'UIDMap',
  'Ulimit',
  'Unmask',
  'User',
  'UserNS',
  'Volume',
  'WorkingDir',
]);

/** Keys of later Podman releases (or of [Service]) that 5.4 refuses in [Container]. */
const REFUSED_BY_54 = ['Memory', 'ReloadCmd', 'ReloadSignal', 'Retry', 'RetryDelay'];

interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}
const schemaFile = new URL('../../schema/manifest.schema.json', import.meta.url);
const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as SchemaNode & { $defs: Record<string, SchemaNode> };

/** The schema node of a field path such as containers[].healthcheck.interval; undefined if there is none. */
function schemaNode(path: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema;
  for (const part of path.split('.')) {
    const name = part.endsWith('[]') ? part.slice(0, -2) : part;
    node = deref(deref(node)?.properties?.[name]);
    if (part.endsWith('[]')) node = deref(node?.items);
  }
  return node;
}

function deref(node: SchemaNode | undefined): SchemaNode | undefined {
  return node?.$ref ? schema.$defs[node.$ref.replace('#/$defs/', '')] : node;
}

describe('the [Container] key table', () => {
  it('declares only keys the Quadlet 5.4 [Container] group accepts', () => {
    const unknown = CONTAINER_KEYS.map((row) => row.key).filter((key) => !QUADLET_54_CONTAINER_KEYS.has(key));
    expect(unknown).toEqual([]);
  });

  it.each(REFUSED_BY_54)('never declares %s, which Quadlet 5.4 refuses', (key) => {
    expect(CONTAINER_KEYS.map((row) => row.key)).not.toContain(key);
  });

  it('names, for every row, manifest fields the schema has', () => {
    const missing = CONTAINER_KEYS.flatMap((row) =>
      row.field
        .split(', ')
        .filter((field) => schemaNode(field) === undefined)
        .map((field) => `${row.key}: ${field}`),
    );
    expect(missing).toEqual([]);
  });

  it('is what the [Container] section is made of, and Exec still defines its variables in [Service]', () => {
    const manifest = {
      schemaVersion: 1,
      id: 'demo',
      name: 'Demo',
      version: '1.0.0',
      containers: [{ name: 'demo', image: 'docker.io/library/busybox:1', command: ['printf', '', ';'] }],
    } satisfies Manifest;
    const options = { startAtBoot: false, source: 'demo.yml', appDir: '/a', dataDir: '/d' };
    const [file] = renderApp(toAppSpec(manifest), options);
    const section = (name: string) => file!.content.split(`[${name}]\n`)[1]!.split('\n\n')[0]!.trim().split('\n');

    const declared = new Set(CONTAINER_KEYS.map((row) => row.key));
    expect(
      section('Container')
        .map((line) => line.split('=')[0])
        .filter((key) => !declared.has(key!)),
    ).toEqual([]);
    expect(section('Container')).toContain('Exec="printf" ${ARCHY_QUADLET_EMPTY} ${ARCHY_QUADLET_SEMICOLON}');
    expect(section('Service')).toEqual(
      expect.arrayContaining(['Environment=ARCHY_QUADLET_EMPTY=', 'Environment=ARCHY_QUADLET_SEMICOLON=;']),
    );
  });
});
