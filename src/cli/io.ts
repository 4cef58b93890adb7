import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Everything the CLI takes from the process, so run() can be called from tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  home: string;
  isTty: boolean;
  /** Fixed width for --help (generated docs); default: the terminal's. */
  helpWidth?: number;
}

export const BUNDLED_APPS_DIR = fileURLToPath(new URL('../../apps', import.meta.url));

export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    home: process.env.HOME || homedir(),
    isTty: Boolean(process.stdout.isTTY),
  };
}
