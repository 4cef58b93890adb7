import { describe, expect, it } from 'vitest';
import { GOOD, listTree, useRenderFixture } from './render-fixture.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderUnits } from '../../src/output/render-units.js';
import { QUADLET_BIN, requireLab } from '../support/lab.js';

// The render pipeline with the real Quadlet generator as its judge (the rest: render-units.test.ts).

const fx = useRenderFixture();
const addApp = (id: string, text: string) => fx.addApp(id, text);

const enabled = requireLab('quadlet');

describe.runIf(enabled)('renderUnits with the real generator', () => {
  it('with the real generator: an app it rejects is reported and skipped, the others are written', async () => {
    await addApp('web', GOOD('web'));
    await addApp('api', GOOD('api', 9090));
    // A unit the generator rejects while our validator accepts it: simulate with a generator
    // wrapper that breaks api's files (the real binary judges; the wrapper only edits input).
    const wrapper = join(fx.root, 'quadlet-wrapper.sh');
    await writeFile(
      wrapper,
      `#!/bin/sh\nfind "$QUADLET_UNIT_DIRS" -name api.container -exec sed -i 's/^\\[Container\\]$/[Container]\\nFrobnicate=1/' {} +\nexec ${QUADLET_BIN} "$@"\n`,
      { mode: 0o755 },
    );
    const report = await renderUnits({ ...fx.req, quadletBin: wrapper });
    const api = report.apps.find((a) => a.id === 'api')!;
    expect(api.status).toBe('rejected');
    expect(api.generator.map((p) => p.message).join('\n')).toMatch(/unsupported key 'Frobnicate' in group 'Container'/);
    expect(report.apps.find((a) => a.id === 'web')!.status).toBe('rendered');
    expect(await listTree(report.outDir)).toEqual(['web', 'web/web.container']);
  });
});
