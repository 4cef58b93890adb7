import type { RenderOptions } from '../../src/render/render-app.js';

/** Fixed render options for catalog tests: paths as on an installed node, so golden files do not depend on the checkout. */
export function catalogRenderOptions(id: string): RenderOptions {
  return {
    startAtBoot: true,
    source: `apps/${id}/manifest.yml`,
    appDir: `/usr/lib/node_modules/archy-quadlet/apps/${id}`,
    dataDir: `/home/archy/.local/share/archy-quadlet/data/${id}`,
  };
}
