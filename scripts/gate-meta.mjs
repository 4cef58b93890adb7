#!/usr/bin/env node
// Facts about the run for the gate report (date, commit, runtime versions), as JSON.
import { execFileSync } from 'node:child_process';

const first = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')[0];
  } catch {
    return undefined;
  }
};
const commit = first('git', ['rev-parse', '--short', 'HEAD']);
const dirty = first('git', ['status', '--porcelain', '--untracked-files=no']);
const versions = [first('podman', ['--version']), first('systemctl', ['--version']), `node ${process.version}`]
  .filter(Boolean)
  .join(', ');
console.log(
  JSON.stringify({
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    commit: commit && `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    versions,
  }),
);
