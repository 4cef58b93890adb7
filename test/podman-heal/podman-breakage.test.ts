import { describe, expect, it } from 'vitest';
import {
  lostVolumesOf,
  parseOwnerMode,
  runtimeBreakageOf,
  volumeUnitLabels,
} from '../../src/podman-heal/podman-breakage.js';

describe("Podman's own state: what breaks it", () => {
  it('a stale runtime, by what Podman 5.4 prints; other failures are not one', () => {
    const stale =
      'podman container ls: time="2026-12-05T10:00:00Z" level=error msg="invalid internal status, try resetting the pause process with \\"podman system migrate\\": could not find any running process: no such process"';
    expect(runtimeBreakageOf(stale)).toMatchObject({ kind: 'stale-runtime' });
    expect(runtimeBreakageOf('Error: cannot re-exec process to join the existing user namespace')).toMatchObject({
      kind: 'stale-runtime',
      detail: 'Error: cannot re-exec process to join the existing user namespace',
    });
    expect(runtimeBreakageOf('Error: no such container web')).toBeUndefined();
    expect(runtimeBreakageOf('podman secret ls: timed out after 60000 milliseconds')).toBeUndefined();
  });

  it('lost volumes: ours on disk that Podman does not know; never another one', () => {
    expect(lostVolumesOf(['web-data', 'db-data', 'someone-else'], ['db-data'], ['web-data', 'db-data'])).toEqual({
      kind: 'lost-volumes',
      volumes: ['web-data'],
      detail: "Podman's database does not know 1 volume(s) whose data is on disk: web-data",
    });
    expect(lostVolumesOf(['someone-else'], [], ['web-data'])).toBeUndefined();
    expect(lostVolumesOf(['web-data'], ['web-data'], ['web-data'])).toBeUndefined();
  });

  it("a volume unit's labels, as it gives them to podman volume create", () => {
    const unit = `# Written by archy-quadlet\n\n[Unit]\nDescription=x\nLabel=not-this\n\n[Volume]\nVolumeName=web-data\nLabel="io.archipelago.app=web"\nLabel="io.archipelago.managed-by=archy-quadlet"\n`;
    expect(volumeUnitLabels(unit)).toEqual(['io.archipelago.app=web', 'io.archipelago.managed-by=archy-quadlet']);
  });

  it('the owner and mode to put back', () => {
    expect(parseOwnerMode('999 999 700\n')).toEqual({ uid: 999, gid: 999, mode: '700' });
    expect(parseOwnerMode('stat: cannot stat')).toBeUndefined();
  });
});
