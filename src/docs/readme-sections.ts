import { buildProgram } from '../cli/run.js';
import type { CliIo } from '../cli/io.js';
import { readManifestSchema } from '../manifest/schema.js';
import { cliReference } from './cli-reference.js';
import { replaceSection, schemaReference } from './schema-reference.js';

/** The README with its generated sections (manifest reference, CLI reference) brought up to date. */
export function updateReadme(readme: string): string {
  let buffer = '';
  const io: CliIo = {
    stdout: (t) => (buffer += t),
    stderr: (t) => (buffer += t),
    env: {},
    home: '/home/user',
    isTty: false,
    helpWidth: 100,
  };
  const program = buildProgram(io, () => undefined);
  const capture = (print: () => void) => {
    buffer = '';
    print();
    return buffer;
  };
  const withSchema = replaceSection(readme, 'manifest-reference', schemaReference(readManifestSchema()));
  return replaceSection(withSchema, 'cli-reference', cliReference(program, capture));
}
