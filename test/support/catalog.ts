import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RenderOptions } from '../../src/render/render-app.js';
import { templatePaths, type AppSpec } from '../../src/manifest/app-spec.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { catalogLinks, interfacesOf, type RenderLinks } from '../../src/graph/app-graph.js';
import { NODE_NETWORK } from '../../src/names.js';

/** Node facts of catalog tests: fixed, so golden files do not depend on the machine. */
export const CATALOG_FACTS = {
  hostname: 'archy',
  mdnsName: 'archy.local',
  lanAddress: '192.168.1.20',
  networkSubnet: '10.89.254.0/24',
} as const;

let links: Map<string, RenderLinks> | undefined;

/** The bundled catalog linked as one node (each interface by its default provider). */
function bundledLinks(): Map<string, RenderLinks> {
  if (links) return links;
  const appsDir = fileURLToPath(new URL('../../apps', import.meta.url));
  const validator = createManifestValidator();
  const apps = readdirSync(appsDir)
    .filter((d) => existsSync(join(appsDir, d, 'manifest.yml')))
    .flatMap((id) => {
      const r = validator.validate(readFileSync(join(appsDir, id, 'manifest.yml'), 'utf8'), id, id);
      return r.ok ? [{ id, interfaces: interfacesOf(withTemplateTexts(r.app, join(appsDir, id))) }] : [];
    });
  links = catalogLinks(apps, CATALOG_FACTS, NODE_NETWORK);
  return links;
}

/** Fixed render options for catalog tests: paths as on an installed node, so golden files do not depend on the checkout. */
export function catalogRenderOptions(id: string): RenderOptions {
  const linked = bundledLinks().get(id);
  return {
    startAtBoot: true,
    source: `apps/${id}/manifest.yml`,
    appDir: `/usr/lib/node_modules/archy-quadlet/apps/${id}`,
    dataDir: `/home/archy/.local/share/archy-quadlet/data/${id}`,
    ...(linked ? { links: linked } : {}),
  };
}

/** The app with the texts of its templates read from its folder, as the catalog loader adds them. */
export function withTemplateTexts(app: AppSpec, appDir: string): AppSpec {
  const paths = templatePaths(app);
  if (paths.length === 0) return app;
  return { ...app, templateTexts: Object.fromEntries(paths.map((p) => [p, readFileSync(join(appDir, p), 'utf8')])) };
}
