import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

// One configuration of the node, read alike by every entry point (the CLI, the timer, the
// watcher, the boot hook), so that none of them depends on the environment it was started
// with: where the catalog is, where app data lives, the node network. The image ships a
// system-wide default (/etc/archy-quadlet/config.yml); the user's file
// ($XDG_CONFIG_HOME/archy-quadlet/config.yml) overrides it key by key.

/** What the configuration may set. */
export interface NodeConfig {
  /** The catalog of manifests (one folder per app). */
  catalog?: string;
  /** Root of the apps' data directories: relative bind sources are under <dataRoot>/<app>. */
  dataRoot?: string;
  /** The node network that links apps: its Podman name and subnet. */
  nodeNetwork?: { name?: string; subnet?: string };
}

export type ConfigKey = 'catalog' | 'dataRoot' | 'nodeNetwork.name' | 'nodeNetwork.subnet';
export const CONFIG_KEYS: readonly ConfigKey[] = ['catalog', 'dataRoot', 'nodeNetwork.name', 'nodeNetwork.subnet'];

/** Environment variable naming the system-wide file instead of /etc/archy-quadlet/config.yml (tests, images). */
export const SYSTEM_CONFIG_ENV = 'ARCHY_QUADLET_SYSTEM_CONFIG';
export const SYSTEM_CONFIG_FILE = '/etc/archy-quadlet/config.yml';

export interface ConfigProblem {
  file: string;
  line: number;
  message: string;
}

const NAME = /^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const SUBNET = /^(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(?:[8-9]|[12]\d|30)$/;

// The YAML parser (some 70 modules) is loaded only when a configuration file exists: most
// nodes have none, and every verb reads the configuration first.
const loadYaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

/** The keys a file sets, and what is wrong in it, each at its line. Pure. */
export function parseNodeConfig(
  text: string,
  file: string,
): { values: Partial<Record<ConfigKey, string>>; problems: ConfigProblem[] } {
  const { isMap, isScalar, LineCounter, parseDocument } = loadYaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const problems: ConfigProblem[] = [];
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined) =>
    node?.range ? lines.linePos(node.range[0]).line : 1;
  for (const e of doc.errors) problems.push({ file, line: e.linePos?.[0].line ?? 1, message: e.message });
  const values: Partial<Record<ConfigKey, string>> = {};
  if (problems.length > 0 || doc.contents === null) return { values, problems };
  if (!isMap(doc.contents)) return { values, problems: [{ file, line: 1, message: 'must be a mapping of keys' }] };
  const take = (key: ConfigKey, node: unknown, check: (v: string) => string | undefined) => {
    if (!isScalar(node) || typeof node.value !== 'string' || node.value === '') {
      problems.push({ file, line: lineOf(node as never), message: `${key}: must be a non-empty string` });
      return;
    }
    const problem = check(node.value);
    if (problem) problems.push({ file, line: lineOf(node), message: `${key}: ${problem}` });
    else values[key] = node.value;
  };
  const absolute = (v: string) => (v.startsWith('/') ? undefined : 'must be an absolute path');
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (key === 'catalog') take('catalog', pair.value, absolute);
    else if (key === 'dataRoot') take('dataRoot', pair.value, absolute);
    else if (key === 'nodeNetwork' && isMap(pair.value)) {
      for (const p of pair.value.items) {
        const sub = isScalar(p.key) ? String(p.key.value) : '';
        if (sub === 'name')
          take('nodeNetwork.name', p.value, (v) => (NAME.test(v) ? undefined : 'must be a DNS label'));
        else if (sub === 'subnet')
          take('nodeNetwork.subnet', p.value, (v) =>
            SUBNET.test(v) ? undefined : 'must be an IPv4 subnet such as 10.89.254.0/24',
          );
        else
          problems.push({
            file,
            line: lineOf(p.key as never),
            message: `unknown key nodeNetwork.${sub} (known: name, subnet)`,
          });
      }
    } else
      problems.push({
        file,
        line: lineOf(pair.key as never),
        message: `unknown key ${key || '(not a name)'} (known: catalog, dataRoot, nodeNetwork)`,
      });
  }
  return { values, problems };
}

/** The configuration in force: each key with the file it came from. */
export interface ResolvedConfig {
  values: Partial<Record<ConfigKey, string>>;
  /** Where each value came from (a file path). */
  sources: Partial<Record<ConfigKey, string>>;
  /** The files looked at, in order (system, then user), whether or not they exist. */
  files: string[];
  problems: ConfigProblem[];
}

export function configFiles(env: Record<string, string | undefined>, home: string): string[] {
  const configHome = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return [env[SYSTEM_CONFIG_ENV] || SYSTEM_CONFIG_FILE, join(configHome, 'archy-quadlet', 'config.yml')];
}

/** Reads the system file, then the user's (which wins key by key). A missing file sets nothing. */
export function readNodeConfig(env: Record<string, string | undefined>, home: string): ResolvedConfig {
  const files = configFiles(env, home);
  const out: ResolvedConfig = { values: {}, sources: {}, files, problems: [] };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        out.problems.push({ file, line: 1, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    const { values, problems } = parseNodeConfig(text, file);
    out.problems.push(...problems);
    for (const [k, v] of Object.entries(values) as Array<[ConfigKey, string]>) {
      out.values[k] = v;
      out.sources[k] = file;
    }
  }
  return out;
}
