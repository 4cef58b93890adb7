import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { updateReadme } from '../../src/docs/readme-sections.js';

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('has the manifest reference and the CLI reference as generated from the schema and --help (npm run docs)', () => {
    expect(updateReadme(readme)).toBe(readme);
  });

  it('starts with the two fresh-machine commands: render the bundled catalog, run every test', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(firstBlock).toMatch(/^npm ci && node dist\/cli\/bin\.js render /m);
    expect(firstBlock).toMatch(/^make test /m);
  });
});
