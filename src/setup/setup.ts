import { makeDir } from '../fs/make-dir.js';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { writeFileAtomic } from '../fs/write-file-atomic.js';

export const UNITS_DIR = fileURLToPath(new URL('../../units', import.meta.url));
export const CLI_JS = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
export const GENERATOR_JS = fileURLToPath(new URL('../cli/generator.js', import.meta.url));
export const USER_UNITS = [
  'archy-quadlet-reconcile.service',
  'archy-quadlet-reconcile.timer',
  'archy-quadlet-watch.service',
] as const;
export const SYSTEM_GENERATOR = '/etc/systemd/user-generators/archy-quadlet';
const MARK = '# Installed by `archy-quadlet setup';

export interface SetupAction {
  what: string;
  done: boolean;
  /** What the user must do when we could not. */
  hint?: string;
}

/** Fills a template from units/ (pure): @NODE@, @CLI@, @GENERATOR@, @ENVIRONMENT@. */
export function fillTemplate(text: string, v: { node: string; appsDir?: string | undefined }): string {
  const env = v.appsDir ? `"ARCHY_QUADLET_APPS=${v.appsDir.replace(/%/g, '%%').replace(/"/g, '\\"')}"` : '';
  const envSh = v.appsDir ? `ARCHY_QUADLET_APPS='${v.appsDir.replace(/'/g, "'\\''")}' ` : '';
  return text
    .replace(/^Environment=@ENVIRONMENT@\n/m, env ? `Environment=${env}\n` : '')
    .replace(/@ENVIRONMENT_SH@/g, envSh)
    .replace(/@NODE@/g, v.node)
    .replace(/@CLI@/g, CLI_JS)
    .replace(/@GENERATOR@/g, GENERATOR_JS);
}

async function writeIfChanged(path: string, content: string, mode: number): Promise<boolean> {
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old !== undefined && !old.startsWith(MARK) && !old.startsWith('#!/bin/sh\n# Installed by `archy-quadlet setup')) {
    throw new Error(`${path} exists and was not written by archy-quadlet setup: left alone`);
  }
  if (old === content) return false;
  await makeDir(dirname(path));
  await writeFileAtomic(path, content, mode);
  return true;
}

async function systemctlUser(args: string[]): Promise<void> {
  await execa('systemctl', ['--user', ...args], { timeout: 60_000, stdin: 'ignore' });
}

/**
 * For the current user: the reconcile timer (and the watcher with `watch`), enabled and
 * started; linger enabled when possible. Idempotent: a second run changes nothing.
 */
export async function setupUser(o: {
  configHome: string;
  node: string;
  appsDir?: string | undefined;
  watch: boolean;
  user: string;
}): Promise<SetupAction[]> {
  const actions: SetupAction[] = [];
  const dir = join(o.configHome, 'systemd', 'user');
  const wanted = USER_UNITS.filter((u) => o.watch || u !== 'archy-quadlet-watch.service');
  let changed = false;
  for (const unit of wanted) {
    const text = fillTemplate(await readFile(join(UNITS_DIR, unit), 'utf8'), o);
    const wrote = await writeIfChanged(join(dir, unit), text, 0o644);
    changed ||= wrote;
    actions.push({ what: `${wrote ? 'wrote' : 'unchanged'} ${join(dir, unit)}`, done: true });
  }
  if (changed) await systemctlUser(['daemon-reload']);
  const enable = ['archy-quadlet-reconcile.timer', ...(o.watch ? ['archy-quadlet-watch.service'] : [])];
  await systemctlUser(['enable', '--now', ...enable]);
  actions.push({ what: `enabled and started ${enable.join(', ')}`, done: true });
  actions.push(await enableLinger(o.user));
  return actions;
}

async function enableLinger(user: string): Promise<SetupAction> {
  const r = await execa('loginctl', ['enable-linger', user], { reject: false, timeout: 20_000, stdin: 'ignore' });
  if (r.exitCode === 0)
    return { what: `linger enabled for ${user}: the user manager (and the apps) start at boot`, done: true };
  return {
    what: `linger not enabled for ${user} (${
      String(r.stderr || r.shortMessage)
        .trim()
        .split('\n')[0]
    })`,
    done: false,
    hint:
      'without linger the apps stop at logout and do not start at boot: ' +
      `run as root: loginctl enable-linger ${user}`,
  };
}

export async function removeUser(o: { configHome: string }): Promise<SetupAction[]> {
  const actions: SetupAction[] = [];
  await execa('systemctl', ['--user', 'disable', '--now', ...USER_UNITS], {
    reject: false,
    timeout: 60_000,
    stdin: 'ignore',
  });
  actions.push({ what: `stopped and disabled ${USER_UNITS.join(', ')}`, done: true });
  for (const unit of USER_UNITS) {
    const path = join(o.configHome, 'systemd', 'user', unit);
    const old = await readFile(path, 'utf8').catch(() => undefined);
    if (old?.startsWith(MARK)) {
      await rm(path);
      actions.push({ what: `removed ${path}`, done: true });
    }
  }
  await systemctlUser(['daemon-reload']);
  actions.push({
    what: 'apps and their units are left as they are (archy-quadlet uninstall APP removes an app)',
    done: true,
  });
  return actions;
}

/** The apps directory a file written by setup carries in its environment line, if any. */
export function appsDirOf(text: string | undefined): string | undefined {
  return text?.match(/ARCHY_QUADLET_APPS='?"?([^'"\n]+)/)?.[1];
}

/** Whether the boot hook is installed, and is what `setup --system` of this installation would write. */
export async function systemHookState(
  node: string,
  path = SYSTEM_GENERATOR,
): Promise<{ installed: boolean; current: boolean }> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return { installed: false, current: false };
  const template = await readFile(join(UNITS_DIR, 'archy-quadlet-generator'), 'utf8');
  return { installed: true, current: text === fillTemplate(template, { node, appsDir: appsDirOf(text) }) };
}

/** As root: the boot-time generator hook for every user's manager. */
export async function setupSystem(o: {
  node: string;
  appsDir?: string | undefined;
  remove: boolean;
  generatorPath?: string;
}): Promise<SetupAction[]> {
  const path = o.generatorPath ?? SYSTEM_GENERATOR;
  if (o.remove) {
    const old = await readFile(path, 'utf8').catch(() => undefined);
    if (old === undefined) return [{ what: `no generator at ${path}`, done: true }];
    if (!old.includes('Installed by `archy-quadlet setup'))
      throw new Error(`${path} was not written by archy-quadlet setup: left alone`);
    await rm(path);
    return [{ what: `removed ${path} (takes effect at the next daemon-reload or boot)`, done: true }];
  }
  const text = fillTemplate(await readFile(join(UNITS_DIR, 'archy-quadlet-generator'), 'utf8'), o);
  const wrote = await writeIfChanged(path, text, 0o755);
  return [{ what: `${wrote ? 'wrote' : 'unchanged'} ${path} (runs at boot and on every daemon-reload)`, done: true }];
}
