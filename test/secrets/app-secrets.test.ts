import { afterEach, describe, expect, it } from 'vitest';
import { appSecretValue, listAppSecrets } from '../../src/secrets/app-secrets.js';
import { fakeNode, type FakeNode } from '../supervise/fake-adapters.js';

// What `secret list` and `secret show` may see: only an installed app's declared secrets,
// only those Podman holds with that app's label.

let node: FakeNode;
afterEach(() => node?.cleanup());

function withSecrets(n: FakeNode, labelled: Record<string, string>, values: Record<string, string>): string[] {
  const asked: string[] = [];
  n.sv.podman.secrets = async () => labelled;
  n.sv.podman.secretValue = async (name: string) => {
    asked.push(name);
    const v = values[name];
    if (v === undefined) throw new Error(`podman secret inspect: no such secret ${name}`);
    return v;
  };
  return asked;
}

describe('app secrets', () => {
  it('lists the declared secrets with their Podman names, and shows one the app owns', async () => {
    node = fakeNode();
    node.install('secret-app');
    withSecrets(node, { 'secret-app-token': 'secret-app' }, { 'secret-app-token': 'tok-value' });
    expect(await listAppSecrets(node.sv, 'secret-app')).toEqual([
      { name: 'token', podmanSecret: 'secret-app-token', present: true, imported: false },
    ]);
    expect(await appSecretValue(node.sv, 'secret-app', 'token')).toBe('tok-value');
  });

  it('refuses a name the manifest does not declare, naming those it does', async () => {
    node = fakeNode();
    node.install('secret-app');
    const asked = withSecrets(node, { 'secret-app-token': 'secret-app' }, { 'secret-app-other': 'x' });
    await expect(appSecretValue(node.sv, 'secret-app', 'other')).rejects.toThrow(
      'secret-app has no secret "other" (its secrets: token)',
    );
    expect(asked).toEqual([]);
  });

  it('never reads a secret of that name that Podman holds for someone else', async () => {
    node = fakeNode();
    node.install('secret-app');
    const asked = withSecrets(node, { 'secret-app-token': 'another-app' }, { 'secret-app-token': 'not ours' });
    expect((await listAppSecrets(node.sv, 'secret-app'))[0]!.present).toBe(false);
    await expect(appSecretValue(node.sv, 'secret-app', 'token')).rejects.toThrow(/does not exist yet/);
    expect(asked).toEqual([]);
  });

  it('refuses an app that is not installed, and one that is not an app id', async () => {
    node = fakeNode();
    node.install('web');
    const asked = withSecrets(node, { 'secret-app-token': 'secret-app' }, { 'secret-app-token': 'v' });
    await expect(appSecretValue(node.sv, 'secret-app', 'token')).rejects.toThrow('"secret-app" is not installed');
    await expect(listAppSecrets(node.sv, '../x')).rejects.toThrow(/is not an app id/);
    expect(asked).toEqual([]);
  });
});
