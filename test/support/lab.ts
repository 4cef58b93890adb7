import { accessSync, constants, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const QUADLET_BIN = process.env.ARCHY_QUADLET_BIN ?? '/usr/libexec/podman/quadlet';
export const LAB_DIR = fileURLToPath(new URL('../../../shared/lab', import.meta.url));
export const AS_USER = `${LAB_DIR}/as-user`;

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a lab-dependent test can run. In CI a missing lab is a failure (CI brings the lab
 * up itself); on a developer's machine the test is skipped and the reason printed.
 */
export function requireLab(what: 'quadlet' | 'user-manager'): boolean {
  const missing: string[] = [];
  if (!executable(QUADLET_BIN)) missing.push(`the Quadlet generator (${QUADLET_BIN})`);
  if (what === 'user-manager') {
    if (!existsSync(AS_USER)) missing.push(`the lab (${AS_USER})`);
    else {
      try {
        execFileSync(AS_USER, ['systemctl', '--user', 'is-system-running'], { stdio: 'pipe', timeout: 10_000 });
      } catch (e) {
        const out = String((e as { stdout?: Buffer }).stdout ?? '').trim();
        if (out !== 'degraded') missing.push('a running lab user manager (run ../shared/lab/up as root)');
      }
    }
  }
  if (missing.length === 0) return true;
  const reason = `needs ${missing.join(' and ')}`;
  if (process.env.CI) throw new Error(`lab test cannot run in CI: ${reason}`);
  console.warn(`SKIPPED (not in CI): ${reason}`);
  return false;
}
