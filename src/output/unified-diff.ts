import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/** A unified diff from the system's diff(1); empty when equal. */
export async function unifiedDiff(before: string, after: string, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'archy-quadlet-diff-'));
  try {
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
