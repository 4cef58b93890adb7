import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseOwnedHeader, serializeSections, sha256, withHeader } from '../../src/render/unit-file.js';

describe('unit file header', () => {
  const body = serializeSections([{ name: 'Container', entries: [['Image', 'docker.io/library/redis:7.4']] }]);

  it('marks a file as ours with the hash of its body', () => {
    const text = withHeader(body, 'immich', 'apps/immich/manifest.yml');
    expect(text.split('\n').slice(0, 2)).toEqual([
      '# Written by archy-quadlet from apps/immich/manifest.yml. Do not edit: changes are overwritten.',
      expect.stringMatching(/^# archy-quadlet: app=immich sha256=[0-9a-f]{64}$/),
    ]);
    expect(parseOwnedHeader(text)).toEqual({ app: 'immich', sha256: expect.any(String), intact: true });
  });

  it('sees a hand edit, and does not claim a file without the header', () => {
    const text = withHeader(body, 'immich', 'x');
    expect(parseOwnedHeader(text.replace('redis:7.4', 'redis:7.2'))?.intact).toBe(false);
    expect(parseOwnedHeader(body)).toBeUndefined();
    expect(parseOwnedHeader(`# archy-quadlet: app=immich sha256=${'0'.repeat(64)}\n\n${body}`)).toBeUndefined();
  });

  it('keeps a hostile source path on its comment line', () => {
    const text = withHeader(body, 'a', '/tmp/x\n[Service]\nExecStartPre=/bin/false');
    expect(text.split('\n')[0]).toBe(
      '# Written by archy-quadlet from /tmp/x?[Service]?ExecStartPre=/bin/false. Do not edit: changes are overwritten.',
    );
  });
});

describe('sha256', () => {
  it('is the hex SHA-256 of the UTF-8 text, whichever hash call Node has', () => {
    for (const text of ['', 'abc', '₿ 😀 \u0000', 'x'.repeat(5000)])
      expect(sha256(text)).toBe(createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex'));
  });
});
