import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { json } from './format.js';
import { createLogger } from '../supervise/logger.js';
import { createSupervisor } from '../supervise/supervisor.js';
import { IntentError } from '../supervise/intents.js';
import { StateError } from '../supervise/state-store.js';
import { appSecretValue, listAppSecrets } from '../secrets/app-secrets.js';

export async function secretListCommand(a: { io: CliIo; paths: Paths; app: string; json: boolean }): Promise<number> {
  return guarded(a.io, async () => {
    const sv = createSupervisor(a.paths, a.io.env, createLogger({ human: a.io.isTty, write: a.io.stderr }));
    const secrets = await listAppSecrets(sv, a.app);
    if (a.json) {
      a.io.stdout(json({ app: a.app, secrets }));
      return EXIT.ok;
    }
    if (secrets.length === 0) a.io.stdout(`${a.app} declares no secrets\n`);
    for (const s of secrets)
      a.io.stdout(
        `${s.name}${s.description ? `  ${s.description}` : ''}\n` +
          `  Podman secret ${s.podmanSecret}${s.present ? '' : ' (not created yet: a pass creates it)'}` +
          `${s.imported ? ', imported at adoption' : ''}\n`,
      );
    if (secrets.some((s) => s.present))
      a.io.stdout(`\narchy-quadlet secret show ${a.app} NAME prints one value on this terminal\n`);
    return EXIT.ok;
  });
}

/**
 * Prints one secret's value: the one place it is printed. Not on a pipe or into a file unless
 * asked with --pipe (a UI reading it), so a redirected `status`-like call never lands a
 * password in a log; no --json, so it never rides along in a machine report.
 */
export async function secretShowCommand(a: {
  io: CliIo;
  paths: Paths;
  app: string;
  name: string;
  pipe: boolean;
}): Promise<number> {
  return guarded(a.io, async () => {
    if (!a.io.isTty && !a.pipe) {
      a.io.stderr(
        'archy-quadlet secret show prints a secret on a terminal only: its output is not a terminal here ' +
          '(add --pipe if a program is reading it on purpose; never redirect it into a log)\n',
      );
      return EXIT.invalid;
    }
    const sv = createSupervisor(a.paths, a.io.env, createLogger({ human: a.io.isTty, write: a.io.stderr }));
    const value = await appSecretValue(sv, a.app, a.name);
    a.io.stdout(`${value}\n`);
    return EXIT.ok;
  });
}

async function guarded(io: CliIo, f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (!(e instanceof IntentError || e instanceof StateError)) throw e;
    io.stderr(`archy-quadlet: ${e.message}\n`);
    return e instanceof IntentError ? EXIT.invalid : EXIT.failure;
  }
}
