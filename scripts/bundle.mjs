// Bundles the two executables (dist/cli/bin.js, dist/cli/generator.js) in place, each verb's
// module a chunk beside them: a process then reads a handful of files instead of resolving a
// few hundred modules and package.json files, which was most of a short verb's start-up
// (issue 15). Run after tsc and build-validator; the library (dist/index.js and the modules
// it imports) stays as tsc wrote it.
//
// The bundle sits where tsc put bin.js, so every path the code resolves from import.meta.url
// (../../apps, ../../package.json, ../build-id.txt, ../manifest/schema-validate.generated.js)
// means the same file bundled or not. What is loaded with createRequire (yaml for the node
// configuration, Ajv for a schema compile, package.json) stays a runtime require.
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const cli = new URL('../dist/cli/', import.meta.url).pathname;
for (const f of readdirSync(cli)) if (f.startsWith('chunk-')) rmSync(cli + f);

await build({
  entryPoints: { bin: `${cli}bin.js`, generator: `${cli}generator.js` },
  outdir: cli,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  // CommonJS dependencies (commander, pino) call require() for Node's own modules: ESM output
  // has no require, so each file gets one.
  banner: {
    js: "import { createRequire as __archyCreateRequire } from 'node:module'; const require = __archyCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  logLevel: 'warning',
});

// tsc's source maps describe the files the bundle replaced: a stale map would point stack
// traces at the wrong lines.
for (const f of ['bin.js.map', 'generator.js.map']) rmSync(cli + f, { force: true });
