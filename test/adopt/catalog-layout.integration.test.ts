import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree, labUser } from '../support/lab-user.js';
import { resetNode } from '../support/node.js';

// The bundled catalog against the Archipelago layout (issue 12, docs/archipelago-layout.md): an
// old node is built as that layout says, with real `podman create` containers under the
// node's names, its binds under the data root, its named volumes and its secret files, and
// `adopt APP --dry-run` must find every container and map every mount with no flag at all.
// The table below is the layout as the node has it, written from the seed documents and the
// layout page, not from the renderer: a manifest that drifts from it fails here.

const enabled = requireLab('user-manager');
const busybox = 'localhost/busybox:latest';
const appsSource = fileURLToPath(new URL('../../apps', import.meta.url));

/** `root:<path>` is a bind of `<dataRoot>/<path>`; anything else a named volume. */
interface OldContainer {
  name: string;
  /** The manifest container it runs (its image is the manifest's: only the repository is compared). */
  container: string;
  mounts: string[];
  user?: string;
}
interface OldApp {
  containers: OldContainer[];
  /** Secret files under the data root. */
  secretFiles?: string[];
}

const LAYOUT: Record<string, OldApp> = {
  'bitcoin-core': {
    containers: [
      { name: 'bitcoin-core', container: 'bitcoin-core', mounts: ['root:bitcoin-core:/home/bitcoin/.bitcoin'] },
    ],
    secretFiles: ['secrets/bitcoin-rpc-password'],
  },
  'bitcoin-knots': {
    containers: [{ name: 'bitcoin-knots', container: 'bitcoin-knots', mounts: ['root:bitcoin-knots:/data'] }],
    secretFiles: ['secrets/bitcoin-rpc-password'],
  },
  lnd: { containers: [{ name: 'lnd', container: 'lnd', mounts: ['lnd-data:/root/.lnd'] }] },
  electrumx: { containers: [{ name: 'electrumx', container: 'electrumx', mounts: ['root:electrumx:/data'] }] },
  'btcpay-server': {
    containers: [
      {
        name: 'btcpay-server-postgres',
        container: 'database',
        mounts: ['btcpay-server-postgres-data:/var/lib/postgresql/data'],
      },
      { name: 'btcpay-server-explorer', container: 'explorer', mounts: ['btcpay-server-nbxplorer:/datadir'] },
      {
        name: 'btcpay-server',
        container: 'server',
        mounts: [
          'root:btcpay-server:/datadir',
          'btcpay-server-plugins:/root/.btcpayserver/Plugins',
          'btcpay-server-nbxplorer:/root/.nbxplorer',
          'btcpay-server-tor-config:/usr/local/etc/tor',
          'btcpay-server-tor-services:/var/lib/tor/hidden_services',
          'lnd-data:/etc/lnd:ro',
        ],
      },
      { name: 'btcpay-server-proxy', container: 'proxy', mounts: [], user: '101:101' },
      {
        name: 'btcpay-server-onion',
        container: 'onion',
        mounts: [
          'btcpay-server-tor-data:/home/tor/.tor',
          'btcpay-server-tor-config:/usr/local/etc/tor',
          'btcpay-server-tor-services:/var/lib/tor/hidden_services',
        ],
      },
    ],
    secretFiles: ['secrets/btcpay-postgres-password'],
  },
  mempool: {
    containers: [
      { name: 'mempool-web', container: 'web', mounts: [] },
      { name: 'mempool-api', container: 'api', mounts: ['root:mempool:/backend/cache'] },
      { name: 'mempool-db', container: 'db', mounts: ['mempool-mariadb-data:/var/lib/mysql'] },
    ],
    secretFiles: ['secrets/mempool-db-password'],
  },
  fedimint: {
    containers: [
      { name: 'fedimint', container: 'fedimintd', mounts: ['root:fedimint:/data'] },
      { name: 'fedimint-ui', container: 'ui', mounts: [] },
    ],
  },
  immich: {
    containers: [
      { name: 'immich', container: 'server', mounts: ['root:immich:/usr/src/app/upload'] },
      { name: 'immich-machine-learning', container: 'machine-learning', mounts: ['immich-model-cache:/cache'] },
      {
        name: 'immich-postgres',
        container: 'database',
        mounts: ['immich-postgres-data:/var/lib/postgresql/data'],
      },
      { name: 'immich-redis', container: 'redis', mounts: ['immich-redis-data:/data'] },
    ],
    secretFiles: ['secrets/immich-db-password'],
  },
  filebrowser: {
    containers: [
      {
        name: 'filebrowser',
        container: 'filebrowser',
        mounts: ['root:filebrowser/files:/srv', 'root:filebrowser:/database'],
      },
    ],
  },
  'nostr-relay': {
    containers: [{ name: 'nostr-relay', container: 'nostr-relay', mounts: ['root:nostr-relay:/usr/src/app/db'] }],
  },
  'bitcoin-ui': { containers: [{ name: 'archy-bitcoin-ui', container: 'bitcoin-ui', mounts: [] }] },
  'lnd-ui': { containers: [{ name: 'archy-lnd-ui', container: 'lnd-ui', mounts: [] }] },
  'electrs-ui': { containers: [{ name: 'archy-electrs-ui', container: 'electrs-ui', mounts: [] }] },
};

interface Manifest {
  id: string;
  version: string;
  containers: Array<{ name: string; image?: string; build?: unknown; oneshot?: boolean; containerName?: string }>;
  requires?: Record<string, { optional?: boolean }>;
}
const manifestOf = (app: string): Manifest =>
  parse(readFileSync(join(appsSource, app, 'manifest.yml'), 'utf8')) as Manifest;
/** The image an old container ran: the manifest's, or the tag a local build gets. */
function imageOf(app: string, container: string): string {
  const m = manifestOf(app);
  const c = m.containers.find((x) => x.name === container);
  if (!c) throw new Error(`${app} has no container ${container}`);
  return c.image ?? `localhost/archy/${app}:${m.version}`;
}

interface DryRun {
  ok: boolean;
  problems: string[];
  reports: Array<{ name: string; unmapped: string[]; mounts: Array<{ existing: string; mappedTo?: string }> }>;
  containers: Array<{ name: string }>;
  newContainers: string[];
  unknown: string[];
  secrets: { imported: Array<{ name: string; file: string; from: string }>; generated: string[] };
}

let dataRoot = '';
let appsDir = '';
const oldNames = Object.values(LAYOUT).flatMap((a) => a.containers.map((c) => c.name));
const oldVolumes = [
  ...new Set(
    Object.values(LAYOUT).flatMap((a) =>
      a.containers.flatMap((c) => c.mounts.filter((m) => !m.startsWith('root:')).map((m) => m.split(':')[0]!)),
    ),
  ),
];
const images = [
  ...new Set(Object.entries(LAYOUT).flatMap(([app, a]) => a.containers.map((c) => imageOf(app, c.container)))),
];
const sh = (script: string, reject = true) => asUser(['bash', '-c', script], { reject, timeout: 300_000 });
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function createCommand(o: OldContainer, image: string): string {
  const mounts = o.mounts.map((m) =>
    m.startsWith('root:') ? `-v ${q(`${dataRoot}/${m.slice('root:'.length)}`)}` : `-v ${q(m)}`,
  );
  return [
    'podman create --restart=unless-stopped',
    `--name ${q(o.name)}`,
    ...(o.user ? [`--user ${q(o.user)}`] : []),
    ...mounts,
    q(image),
    'sleep 1d >/dev/null',
  ].join(' ');
}

async function adoptDryRun(app: string, extra: string[] = []) {
  const r = await asUser(
    ['env', `ARCHY_QUADLET_APPS=${appsDir}`, 'archy-quadlet', 'adopt', app, '--dry-run', '--json', ...extra],
    { reject: false, timeout: 120_000 },
  );
  return { exitCode: r.exitCode, plan: JSON.parse(String(r.stdout)) as DryRun, stderr: String(r.stderr) };
}

const removeOld = () =>
  sh(
    `podman rm -f -t 0 ${oldNames.map(q).join(' ')} >/dev/null 2>&1
     podman volume rm -f ${oldVolumes.map(q).join(' ')} >/dev/null 2>&1
     podman untag ${busybox} ${images.map(q).join(' ')} >/dev/null 2>&1; true`,
    false,
  );

describe.runIf(enabled)('the catalog on an Archipelago node: adopt --dry-run with no flags', () => {
  beforeAll(async () => {
    const user = labUser();
    await resetNode(user);
    appsDir = mkdtempSync('/tmp/aq-catalog-apps-');
    cpSync(appsSource, appsDir, { recursive: true });
    chownTree(appsDir, user);
    dataRoot = join(user.home, 'archipelago-layout');
    await removeOld();
    const dirs = Object.values(LAYOUT).flatMap((a) =>
      a.containers.flatMap((c) => c.mounts.filter((m) => m.startsWith('root:')).map((m) => m.split(':')[1]!)),
    );
    const secretFiles = [...new Set(Object.values(LAYOUT).flatMap((a) => a.secretFiles ?? []))];
    await sh(`set -e
      rm -rf ${dataRoot}; mkdir -p ${dataRoot}/secrets $HOME/.config/archy-quadlet
      printf 'dataRoot: ${dataRoot}\\n' > $HOME/.config/archy-quadlet/config.yml
      for d in ${dirs.map(q).join(' ')}; do mkdir -p ${dataRoot}/$d; done
      for f in ${secretFiles.map(q).join(' ')}; do printf 'password%s' "$RANDOM$RANDOM" > ${dataRoot}/$f; chmod 600 ${dataRoot}/$f; done
      podman tag ${busybox} ${images.map(q).join(' ')}
      for v in ${oldVolumes.map(q).join(' ')}; do podman volume create $v >/dev/null; done
      ${Object.entries(LAYOUT)
        .flatMap(([app, a]) => a.containers.map((c) => createCommand(c, imageOf(app, c.container))))
        .join('\n')}`);
  }, 300_000);

  afterAll(async () => {
    if (!enabled) return;
    await removeOld();
    await sh(`rm -rf ${dataRoot} $HOME/.config/archy-quadlet/config.yml; true`, false);
    rmSync(appsDir, { recursive: true, force: true });
    await resetNode(labUser());
  }, 300_000);

  it('the layout covers every catalog app', () => {
    const bundled = readdirSync(appsSource)
      .filter((d) => existsSync(join(appsSource, d, 'manifest.yml')))
      .sort();
    expect(Object.keys(LAYOUT).sort()).toEqual(bundled);
  });

  for (const [app, old] of Object.entries(LAYOUT)) {
    it(`${app}: every old container found, every mount mapped, every secret file read`, async () => {
      const r = await adoptDryRun(app);
      // A node is adopted provider first: until bitcoind is archy-quadlet's, its dependents are
      // refused for that alone (adopting them would start units that need a unit not there).
      const waitsForProvider = / needs \S+, which no installed app provides: adopt \(or install\) /;
      expect(r.plan.problems.filter((p) => !waitsForProvider.test(p))).toEqual([]);
      const requires = Object.keys(manifestOf(app).requires ?? {}).filter(
        (i) => manifestOf(app).requires?.[i]?.optional !== true,
      );
      // The first interface no installed app provides is named.
      expect(r.plan.problems.length).toBe(requires.length === 0 ? 0 : 1);
      expect(r.exitCode).toBe(requires.length === 0 ? 0 : 1);
      expect(r.plan.containers.map((c) => c.name).sort()).toEqual(old.containers.map((c) => c.name).sort());
      // An init container (a oneshot, e.g. File Browser's set-admin-password) never ran on an
      // old node: it is the one kind of container adopt starts new.
      const initContainers = manifestOf(app)
        .containers.filter((c) => c.oneshot === true)
        .map((c) => c.containerName ?? (c.name === app ? app : `${app}-${c.name}`));
      expect(r.plan.newContainers.sort()).toEqual(initContainers.sort());
      expect(r.plan.unknown).toEqual([]);
      for (const report of r.plan.reports) {
        expect(report.unmapped, report.name).toEqual([]);
        expect(
          report.mounts.filter((m) => !m.mappedTo && !m.existing.startsWith('lnd-')),
          report.name,
        ).toEqual([]);
      }
      expect(r.plan.secrets.imported.map((s) => s.file).sort()).toEqual(
        (old.secretFiles ?? []).map((f) => join(dataRoot, f)).sort(),
      );
      expect(r.plan.secrets.imported.every((s) => s.from === 'manifest')).toBe(true);
    }, 120_000);
  }

  it('lnd whose data is a bind of <root>/lnd is refused, the bind named (a known gap)', async () => {
    await sh(`set -e; podman rm -f -t 0 lnd >/dev/null; mkdir -p ${dataRoot}/lnd
      podman create --restart=unless-stopped --name lnd -v ${dataRoot}/lnd:/root/.lnd ${q(imageOf('lnd', 'lnd'))} sleep 1d >/dev/null`);
    const r = await adoptDryRun('lnd');
    expect(r.exitCode).toBe(1);
    expect(r.plan.ok).toBe(false);
    expect(r.plan.problems).toContain(
      `lnd: /root/.lnd would be mounted from volume lnd-data (volumes[0] (volume data)) instead of host directory ${dataRoot}/lnd: its data would be left behind`,
    );
  }, 120_000);
});
