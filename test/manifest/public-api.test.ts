import { describe, expect, it } from 'vitest';
import { createManifestValidator, renderApp, type RenderOptions } from '../../src/index.js';

// The package's "main" entry: a consumer validates a manifest and renders it without reaching into src/.

const manifest = `schemaVersion: 1
id: hello
name: Hello
version: "1.0.0"
containers:
  - name: hello
    image: docker.io/library/busybox:1.36
    command: ["httpd", "-f", "-p", "8080"]
    ports:
      - hostIp: 127.0.0.1
        hostPort: 18080
        containerPort: 8080
`;

const options: RenderOptions = {
  startAtBoot: true,
  source: 'apps/hello/manifest.yml',
  appDir: '/srv/apps/hello',
  dataDir: '/srv/data/hello',
};

describe('public API (src/index.ts)', () => {
  it('validates a manifest and renders it into Quadlet files', () => {
    const result = createManifestValidator().validate(manifest, 'apps/hello/manifest.yml', 'hello');
    if (!result.ok) throw new Error(result.errors.map((e) => `${e.field}: ${e.message}`).join('\n'));
    const files = renderApp(result.app, options);
    expect(files.map((f) => f.name)).toContain('hello.container');
    const unit = files.find((f) => f.name === 'hello.container')!.content;
    expect(unit).toContain('Image=docker.io/library/busybox:1.36');
    expect(unit).toContain('PublishPort=127.0.0.1:18080:8080');
  });

  it('reports an invalid manifest as errors located in the file', () => {
    const result = createManifestValidator().validate(manifest.replace('id: hello', 'id: Hello'), 'm.yml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]).toMatchObject({ file: 'm.yml', line: 2, field: 'id' });
  });
});
