import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';

export const DEFAULT_QUADLET_BINS = ['/usr/libexec/podman/quadlet', '/usr/lib/podman/quadlet'];

/** The real Quadlet generator, if installed: ARCHY_QUADLET_BIN, else Podman's usual places. */
export async function findQuadlet(env: Record<string, string | undefined>): Promise<string | undefined> {
  const candidates = env.ARCHY_QUADLET_BIN ? [env.ARCHY_QUADLET_BIN] : DEFAULT_QUADLET_BINS;
  for (const bin of candidates) {
    if (
      await access(bin, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return bin;
  }
  return undefined;
}

export interface GeneratorProblem {
  severity: 'error' | 'warning';
  /** Source file the message names (base name, e.g. immich-server.container), when it names one. */
  file?: string;
  /** The file's full path, when the message gives one (`error loading "/dir/x.container"`, `... in /dir/x.network`). */
  path?: string;
  /**
   * What the generator holds against the file, without the file's name: set only when it
   * refused the file (could not load or convert it), which drops the file's service.
   */
  reason?: string;
  message: string;
}

export interface GeneratorResult {
  exitCode: number;
  /** Generated units by name (immich-server.service → its text). */
  services: Map<string, string>;
  problems: GeneratorProblem[];
}

const SOURCE_FILE = /([A-Za-z0-9_.@:-]+\.(?:container|network|volume|build|pod|kube|image))\b/;
// The two ways Quadlet refuses a file: it cannot parse it, or cannot make a service of it.
// A conversion error names the file, and its path at the end when it is about a key.
const LOADING = /error loading "([^"]+)", (.*)$/;
const CONVERTING = /converting "([^"]+)": (.*?)(?: in (\/\S+))?$/;

/** Parses `quadlet -dryrun` stderr into problems (pure). */
export function parseGeneratorStderr(stderr: string): GeneratorProblem[] {
  const problems: GeneratorProblem[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.replace(/^quadlet-generator\[\d+\]:\s*/, '').trim();
    if (line === '' || line.startsWith('Loading source unit file')) continue;
    const severity = /^warning:/i.test(line) ? 'warning' : 'error';
    const loading = LOADING.exec(line);
    const converting = CONVERTING.exec(line);
    const file = converting?.[1] ?? SOURCE_FILE.exec(line)?.[1];
    const path = converting?.[3] ?? loading?.[1]; // Quadlet loads from absolute directories only
    const reason = loading?.[2] ?? converting?.[2];
    problems.push({
      severity,
      message: line,
      ...(file ? { file: file.split('/').pop()! } : {}),
      ...(path ? { path } : {}),
      ...(reason !== undefined ? { reason } : {}),
    });
  }
  return problems;
}

/** Splits `quadlet -dryrun` stdout (`---name.service---` then the unit) into units (pure). */
export function parseGeneratorStdout(stdout: string): Map<string, string> {
  const services = new Map<string, string>();
  const parts = stdout.split(/^---([^\n]+)---$/m);
  for (let i = 1; i < parts.length; i += 2)
    services.set(parts[i]!, `${(parts[i + 1] ?? '').replace(/^\n/, '').trimEnd()}\n`);
  return services;
}

/**
 * Runs the generator in dry-run mode over the given directories. node:child_process rather
 * than execa: `render`, the boot hook and a pass that writes run this, and loading execa was
 * a fifth of `render`'s start-up (issue 15).
 */
export function runQuadletDryRun(bin: string, unitDirs: string[]): Promise<GeneratorResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      ['-dryrun', '-user'],
      {
        env: { ...process.env, QUADLET_UNIT_DIRS: unitDirs.join(':') },
        timeout: 30_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        // A non-zero exit is a verdict (err.code its number); no exit at all is not.
        const exitCode = err ? err.code : 0;
        if (typeof exitCode !== 'number' || err?.killed)
          reject(new Error(`${bin} did not finish: ${err?.killed ? 'timeout' : (err?.message ?? 'no exit code')}`));
        else resolve({ exitCode, services: parseGeneratorStdout(stdout), problems: parseGeneratorStderr(stderr) });
      },
    );
    child.stdin?.end();
  });
}
