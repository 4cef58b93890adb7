import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { validateCatalog } from '../catalog/validate-catalog.js';
import { openManifestCache } from '../catalog/manifest-cache-file.js';
import { formatError, json } from './format.js';

export async function validateCommand(a: {
  io: CliIo;
  paths: Paths;
  appIds: string[];
  json: boolean;
}): Promise<number> {
  const cache = await openManifestCache(a.io.env, a.io.home);
  const report = await validateCatalog(a.paths.appsDir, a.appIds, cache.validator);
  await cache.save();
  const invalid = report.apps.filter((x) => !x.valid);
  if (a.json) {
    a.io.stdout(json({ ...report, valid: invalid.length === 0 }));
  } else {
    for (const app of invalid) for (const e of app.errors) a.io.stderr(`${formatError(e)}\n`);
    const errors = invalid.reduce((n, x) => n + x.errors.length, 0);
    a.io.stdout(
      invalid.length === 0
        ? `${report.apps.length} app(s) valid in ${report.appsDir}\n`
        : `${invalid.length} of ${report.apps.length} app(s) invalid (${errors} error(s)); ` +
            `valid: ${report.apps.length - invalid.length}\n`,
    );
  }
  return invalid.length === 0 ? EXIT.ok : EXIT.invalid;
}
