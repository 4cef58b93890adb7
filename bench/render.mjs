// Issue #2 benchmarks: validate + render 500 manifests in one process (target < 1 s), and
// `archy-quadlet render` of the bundled catalog as a whole process (target < 400 ms wall),
// as ratios to `node -e 0` and to the Quadlet generator's own dry run on the same units.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManifestValidator } from '../dist/manifest/validate-manifest.js';
import { renderApp } from '../dist/render/render-app.js';
import { catalogLinks, interfacesOf } from '../dist/graph/app-graph.js';
import { fmt, median, ratio, timePaired, timeProcess } from './lib.mjs';

const root = new URL('..', import.meta.url).pathname;
const appsDir = join(root, 'apps');
const bin = join(root, 'dist/cli/bin.js');
const QUADLET = process.env.ARCHY_QUADLET_BIN ?? '/usr/libexec/podman/quadlet';

const FACTS = {
  hostname: 'archy',
  mdnsName: 'archy.local',
  lanAddress: '192.168.1.20',
  networkSubnet: '10.89.254.0/24',
};

export function benchRender(lines = []) {
  // 1. 500 manifests: the catalog's apps, each under many ids, validated and rendered.
  const texts = readdirSync(appsDir).map((id) => [id, readFileSync(join(appsDir, id, 'manifest.yml'), 'utf8')]);
  const inputs = Array.from({ length: 500 }, (_, i) => {
    const [id, text] = texts[i % texts.length];
    const copy = `${id.slice(0, 30)}-${i}`;
    // The app's templates, read as the catalog loader reads them.
    const tmpl = readdirSync(join(appsDir, id)).filter((f) => f.endsWith('.tmpl'));
    const templateTexts = tmpl.length
      ? Object.fromEntries(tmpl.map((f) => [f, readFileSync(join(appsDir, id, f), 'utf8')]))
      : undefined;
    return [copy, text.replace(new RegExp(`^id: ${id}$`, 'm'), `id: ${copy}`), templateTexts];
  });
  const t0 = performance.now();
  const validator = createManifestValidator();
  const compileMs = performance.now() - t0;
  const runs = [];
  let files = 0;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    files = 0;
    // Validated, linked as one node (each interface by its default provider), then rendered.
    const specs = inputs.map(([id, text, templateTexts]) => {
      const res = validator.validate(text, `${id}/manifest.yml`, id);
      if (!res.ok) throw new Error(`${id}: ${JSON.stringify(res.errors[0])}`);
      return templateTexts ? { ...res.app, templateTexts } : res.app;
    });
    const links = catalogLinks(
      specs.map((app) => ({ id: app.id, interfaces: interfacesOf(app) })),
      FACTS,
      'archy-node',
    );
    for (const app of specs) {
      files += renderApp(app, {
        startAtBoot: true,
        source: `${app.id}/manifest.yml`,
        appDir: `/apps/${app.id}`,
        dataDir: `/data/${app.id}`,
        links: links.get(app.id),
      }).length;
    }
    runs.push(performance.now() - t);
  }
  const m500 = median(runs);
  lines.push(
    `| validate + link + render 500 manifests (${files} files), one process | ${fmt(m500)} (schema compile once: ${fmt(compileMs)}) | < 300 ms (issue 15) | ${m500 + compileMs < 300 ? 'met' : 'MISSED'} |`,
  );

  // 2. The whole CLI process on the catalog, steady state (units already there, nothing to write).
  const out = mkdtempSync(join(tmpdir(), 'aq-bench-'));
  const cacheHome = mkdtempSync(join(tmpdir(), 'aq-bench-cache-'));
  try {
    const env = { ...process.env, ARCHY_QUADLET_APPS: appsDir, XDG_CACHE_HOME: cacheHome };
    const first = timeProcess('node', [bin, 'render', '--out', out], { runs: 1, env });
    const steady = timeProcess('node', [bin, 'render', '--out', out], { env });
    const node0 = timeProcess('node', ['-e', '0']);
    lines.push(
      `| \`archy-quadlet render\` of the catalog (${texts.length} apps), whole process, nothing to write | ${fmt(steady.median)} (min ${fmt(steady.min)}; first run writing everything: ${fmt(first.median)}) | < 400 ms | ${steady.median < 400 ? 'met' : 'MISSED'} |`,
    );
    lines.push(`| … as a ratio to \`node -e 0\` (${fmt(node0.median)}) | ${ratio(steady.median, node0.median)} | | |`);
    try {
      const q = timeProcess(QUADLET, ['-dryrun', '-user'], { env: { QUADLET_UNIT_DIRS: out }, check: false });
      lines.push(
        `| … as a ratio to the Quadlet generator's own dry run on the same units (${fmt(q.median)}) | ${ratio(steady.median, q.median)} | | |`,
      );
    } catch (_e) {
      lines.push(`| Quadlet generator not runnable here (${QUADLET}) | – | | |`);
    }
    // 3. Start-up of the verbs a person or the UI runs, paired with `node -e 0` (issue 15). The
    // manifest cache is the bench's own (warm after the first run); "no manifest cache" points
    // it at /dev/null (nothing can be read or made under it), so every run validates every manifest.
    const node0args = ['node', ['-e', '0']];
    const cold = { ...env, XDG_CACHE_HOME: '/dev/null' };
    for (const [what, args, target, runEnv = env] of [
      ['`archy-quadlet --version`', ['--version'], 1.5],
      ['`archy-quadlet --help`', ['--help'], 1.5],
      [`\`archy-quadlet validate\` of the catalog (${texts.length} apps)`, ['validate'], 2],
      ['`archy-quadlet render` of the catalog, nothing to write', ['render', '--out', out], 3],
      ['… `validate`, no manifest cache', ['validate'], 2, cold],
      ['… `render`, nothing to write, no manifest cache', ['render', '--out', out], 3, cold],
    ]) {
      const p = timePaired(['node', [bin, ...args], { env: runEnv }], node0args);
      lines.push(
        `| ${what}, paired with \`node -e 0\` | ${fmt(p.a)} / ${fmt(p.b)}: ${p.ratio.toFixed(2)}× | ≤ ${target}× | ${p.ratio <= target ? 'met' : 'MISSED'} |`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(cacheHome, { recursive: true, force: true });
  }
  return lines;
}
