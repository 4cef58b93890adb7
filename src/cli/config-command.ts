import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { json } from './format.js';
import { CONFIG_KEYS, type ResolvedConfig } from '../config/node-config.js';
import { readState } from '../supervise/state-store.js';

/** `archy-quadlet config`: what is in force, from where; and where each installed app came from. */
export async function configCommand(a: {
  io: CliIo;
  paths: Paths;
  config: ResolvedConfig;
  json: boolean;
}): Promise<number> {
  const value = (key: (typeof CONFIG_KEYS)[number]) =>
    key === 'catalog'
      ? a.paths.appsDir
      : key === 'dataRoot'
        ? a.paths.dataRoot
        : key === 'nodeNetwork.name'
          ? a.paths.nodeNetwork!.name
          : a.paths.nodeNetwork!.subnet;
  const settings = CONFIG_KEYS.map((key) => ({ key, value: value(key), from: a.paths.origins?.[key] ?? 'default' }));
  const state = await readState(a.paths.stateDir).catch(() => undefined);
  const apps = Object.entries(state?.apps ?? {})
    .filter(([, i]) => i.intent !== 'absent')
    .map(([id, i]) => ({ app: id, catalog: i.catalog ?? null }));
  if (a.json) {
    a.io.stdout(json({ settings, files: a.config.files, problems: a.config.problems, apps }));
    return a.config.problems.length > 0 ? EXIT.failure : EXIT.ok;
  }
  const out: string[] = [];
  for (const s of settings) out.push(`${s.key}: ${s.value}  (${s.from})`);
  out.push(`files: ${a.config.files.join(', then ')}`);
  for (const p of a.config.problems) out.push(`problem: ${p.file}:${p.line}: ${p.message}`);
  for (const app of apps) {
    const other = app.catalog !== null && app.catalog !== a.paths.appsDir;
    out.push(
      `app ${app.app}: installed from ${app.catalog ?? '(not recorded: installed before this was kept)'}` +
        (other ? ' (not the catalog in force)' : ''),
    );
  }
  a.io.stdout(`${out.join('\n')}\n`);
  return a.config.problems.length > 0 ? EXIT.failure : EXIT.ok;
}
