import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A unified diff from the system's diff(1); empty when equal. */
export async function unifiedDiff(before: string, after: string, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'archy-quadlet-diff-'));
  try {
    // Loaded here, not with the module: `render` imports this for --diff, and execa was a
    // fifth of a plain render's start-up (issue 15).
    const { execa } = await import('execa');
    await writeFile(join(dir, 'a'), before);
    await writeFile(join(dir, 'b'), after);
    const r = await execa(
      'diff',
      ['-u', '--label', `a/${label}`, '--label', `b/${label}`, join(dir, 'a'), join(dir, 'b')],
      { reject: false },
    );
    if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`diff failed: ${r.stderr}`);
    return r.stdout === '' ? '' : `${r.stdout}\n`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
