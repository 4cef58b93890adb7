import { describe, expect, it } from 'vitest';
import { requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { useLabNode } from '../support/node.js';

// `secret list` and `secret show` as a node's user runs them, on a real Podman secret: the
// value appears on a terminal, or on a pipe with --pipe, and nowhere else.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

describe.runIf(enabled)('secret verbs in the lab', () => {
  it('lists an app secret without its value, and shows it only on a terminal or with --pipe', async () => {
    await node().aq(['install', 'secret-app', '--wait', '--timeout', '60']);
    const value = String(
      (await asUser(['podman', 'secret', 'inspect', '--showsecret', '--format', '{{.SecretData}}', 'secret-app-token']))
        .stdout,
    ).trim();
    expect(value).toHaveLength(40);

    const list = await node().aq(['secret', 'list', 'secret-app']);
    expect(list.stdout).toMatch(/^token\n {2}Podman secret secret-app-token\n/);
    expect(`${list.stdout}${list.stderr}`).not.toContain(value);
    const listed = JSON.parse((await node().aq(['secret', 'list', 'secret-app', '--json'])).stdout);
    expect(listed.secrets).toEqual([
      { name: 'token', podmanSecret: 'secret-app-token', present: true, imported: false },
    ]);

    // Its output is a pipe here: refused, and nothing of the value on either stream.
    const refused = await node().aq(['secret', 'show', 'secret-app', 'token'], { reject: false });
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('--pipe');
    expect(refused.stderr).not.toContain(value);

    const piped = await node().aq(['secret', 'show', 'secret-app', 'token', '--pipe']);
    expect(piped.stdout).toBe(value); // execa drops the one newline after it
    expect(piped.stderr).not.toContain(value);

    // On a terminal (a pty from script(1)), as a person runs it.
    const tty = await asUser([
      'script',
      '-qec',
      `env ARCHY_QUADLET_APPS=${node().appsDir} archy-quadlet secret show secret-app token`,
      '/dev/null',
    ]);
    expect(tty.stdout.replace(/\r/g, '').trim()).toBe(value);

    const unknown = await node().aq(['secret', 'show', 'secret-app', 'nope', '--pipe'], { reject: false });
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('secret-app has no secret "nope" (its secrets: token)');
    const notInstalled = await node().aq(['secret', 'show', 'web', 'token', '--pipe'], { reject: false });
    expect(notInstalled.exitCode).toBe(1);
    expect(notInstalled.stderr).toContain('"web" is not installed');

    // No other verb prints it.
    for (const verb of [
      ['status', '--json'],
      ['explain', 'secret-app', '--json'],
      ['doctor', '--json'],
    ]) {
      const r = await node().aq(verb, { reject: false });
      expect(`${r.stdout}${r.stderr}`).not.toContain(value);
    }
    await node().aq(['uninstall', 'secret-app', '--purge', '--wait', '--timeout', '60']);
  }, 180_000);
});
