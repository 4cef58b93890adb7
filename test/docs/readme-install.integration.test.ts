import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { useLabNode, waitHttp } from '../support/node.js';

// The README's install section, tried in the lab as a new user would: command by command,
// `sudo` ones as root, the others as the lab user. The one substitution: the lab reaches no
// registry, so the test catalog's `web` stands in for `filebrowser`.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const ROOT = new URL('../..', import.meta.url).pathname;
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const block = /On a node[^\n]*\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
const commands = block
  .split('\n')
  .map((l) => l.replace(/\s+#.*$/, '').trim())
  .filter(Boolean);

afterAll(async () => {
  if (!enabled) return;
  await node().aq(['setup', '--remove'], { reject: false });
  await execa('archy-quadlet', ['setup', '--system', '--remove'], { reject: false });
}, 60_000);

describe.runIf(enabled)("the README's install section, in the lab", () => {
  it('has the commands a node needs, in order', () => {
    expect(commands.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'npm pack &&',
      'sudo archy-quadlet setup',
      'archy-quadlet setup --watch',
      'archy-quadlet doctor',
      'archy-quadlet install filebrowser',
      'archy-quadlet status',
      'archy-quadlet explain filebrowser',
      'source <(archy-quadlet completion',
    ]);
  });

  it('works, command by command', async () => {
    for (const raw of commands) {
      const command = raw.replace(/\bfilebrowser\b/g, 'web');
      let r;
      if (command.startsWith('npm pack')) {
        // As root in the checkout (the package is built by `prepare`); sudo is who runs it here.
        r = await execa(
          'bash',
          ['-c', `${command.replace(/sudo /g, '')} --no-audit --no-fund --silent && rm -f archy-quadlet-*.tgz`],
          { cwd: ROOT, reject: false, timeout: 300_000, stdin: 'ignore' },
        );
      } else if (command.startsWith('sudo ')) {
        r = await execa('bash', ['-c', command.slice(5)], {
          reject: false,
          timeout: 60_000,
          stdin: 'ignore',
          env: { ...process.env, ARCHY_QUADLET_APPS: node().appsDir },
        });
      } else {
        r = await asUser(
          [
            'env',
            `ARCHY_QUADLET_APPS=${node().appsDir}`,
            'bash',
            '-c',
            command.startsWith('source ') ? `${command} && complete -p archy-quadlet` : command,
          ],
          { reject: false, timeout: 180_000 },
        );
      }
      const out = `${r.stdout}\n${r.stderr}`;
      // doctor in the lab: only what the lab cannot satisfy (cgroup v1) is a warning (exit 5).
      const expected = command === 'archy-quadlet doctor' ? 5 : 0;
      expect(r.exitCode, `${command}\n${out}`).toBe(expected);
      if (command.startsWith('archy-quadlet status')) expect(String(r.stdout)).toMatch(/^web: running$/m);
      if (command.startsWith('archy-quadlet explain')) expect(String(r.stdout)).toMatch(/nothing wrong found/);
      if (command.startsWith('source ')) expect(String(r.stdout)).toContain('complete -F _archy_quadlet archy-quadlet');
    }
    expect(await waitHttp(18081)).toBe('ok\n');
  }, 600_000);
});
