import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { run } from '../../src/cli/run.js';
import type { CliIo } from '../../src/cli/io.js';

// The completion script, generated from the commander definition, driven by a real bash the
// way bash drives it: COMP_WORDS and COMP_CWORD in, COMPREPLY out.

async function script(shell: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    env: {},
    home: '/nonexistent',
    isTty: false,
  };
  const code = await run(['completion', shell], io);
  return { code, out, err };
}

async function complete(words: string[], env: Record<string, string> = {}): Promise<string[]> {
  const { out } = await script('bash');
  const line = `${out}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _archy_quadlet; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await execa('bash', ['-c', line], { env: { ...process.env, ...env }, stdin: 'ignore' });
  return String(r.stdout).split('\n').filter(Boolean).sort();
}

describe('shell completion', () => {
  it("completes verbs, each verb's own options, and app ids from the catalog", async () => {
    expect(await complete(['archy-quadlet', 're'])).toEqual(['reconcile', 'render', 'restart']);
    expect(await complete(['archy-quadlet', 'uninstall', '--p'])).toEqual(['--purge']);
    expect(await complete(['archy-quadlet', 'stop', '--'])).toEqual([
      '--apps',
      '--cascade',
      '--help',
      '--json',
      '--timeout',
      '--wait',
    ]);
    expect(await complete(['archy-quadlet', 'install', 'bitcoin-'])).toEqual([
      'bitcoin-core',
      'bitcoin-knots',
      'bitcoin-ui',
    ]);
    const apps = new URL('../lab-apps', import.meta.url).pathname;
    expect(await complete(['archy-quadlet', 'start', 's'], { ARCHY_QUADLET_APPS: apps })).toEqual([
      'secret-app',
      'slowstart',
      'slowstop',
      'stack',
    ]);
    expect(await complete(['archy-quadlet', 'render', '--out', '/pro'])).toEqual(['/proc']);
  });

  it('has zsh too, and refuses another shell with a usage error', async () => {
    const zsh = await script('zsh');
    expect(zsh.code).toBe(0);
    expect(zsh.out).toContain('bashcompinit');
    expect(zsh.out).toContain('complete -F _archy_quadlet archy-quadlet');
    const fish = await script('fish');
    expect(fish).toMatchObject({ code: 2, out: '' });
    expect(fish.err).toMatch(/no completion for "fish" \(bash or zsh\)/);
  });
});
