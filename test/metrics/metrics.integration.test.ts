import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { chownTree, labUser, waitFor } from '../support/lab-user.js';
import { useLabNode } from '../support/node.js';

// The node's metrics as Prometheus gets them: Debian's node exporter (installed by .ci/run)
// reads the file every pass writes into its textfile-collector directory; promtool checks
// the format. Install, stop and a crash loop show on its /metrics.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const EXPORTER = '/usr/bin/prometheus-node-exporter';
const PROMTOOL = '/usr/bin/promtool';
const PORT = 19_109;

async function scrape(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${PORT}/metrics`).catch(() => undefined);
  return r?.ok ? r.text() : '';
}

/** Has a pass write the file again (the timer does so on a node), then scrapes until `line` is there. */
// The node exporter prints labels sorted by name.
async function seen(line: string, timeoutMs = 60_000): Promise<string> {
  let last = '';
  try {
    return await waitFor(
      `the node exporter to show ${line}`,
      async () => {
        await node().aq(['reconcile'], { reject: false });
        last = await scrape();
        return last.split('\n').includes(line) ? last : undefined;
      },
      timeoutMs,
      1000,
    );
  } catch (e) {
    const app = /app="([^"]+)"/.exec(line)?.[1] ?? '';
    const shown = last.split('\n').filter((l) => l.startsWith('archy_quadlet_') && l.includes(`"${app}"`));
    throw new Error(`${(e as Error).message}; the last scrape had:\n${shown.join('\n')}`);
  }
}

describe.runIf(enabled)('metrics through the node exporter', () => {
  it('shows install, stop and a crash loop; promtool accepts the text', async () => {
    for (const bin of [EXPORTER, PROMTOOL])
      if (!existsSync(bin)) throw new Error(`${bin} is missing: apt-get install prometheus-node-exporter prometheus`);
    const dir = mkdtempSync('/tmp/aq-textfile-');
    chownTree(dir, labUser());
    const exporter = execa(
      EXPORTER,
      [
        `--web.listen-address=127.0.0.1:${PORT}`,
        '--collector.disable-defaults',
        '--collector.textfile',
        `--collector.textfile.directory=${dir}`,
      ],
      { reject: false, stdin: 'ignore' },
    );
    try {
      const setup = await node().aq(['setup', '--metrics', dir]);
      expect(setup.stdout).toContain(`every pass writes the node's metrics to ${dir}/archy_quadlet.prom`);
      const refused = await node().aq(['setup', '--metrics', '/nonexistent-dir'], { reject: false });
      expect(refused.exitCode).toBe(3);
      expect(refused.stderr).toContain('no such directory');

      await node().aq(['install', 'web', '--wait', '--timeout', '60']);
      let page = await seen('archy_quadlet_app_state{app="web",state="running"} 1');
      expect(page).toContain('archy_quadlet_app_desired_state{app="web",state="running"} 1');
      expect(page).toContain('archy_quadlet_unit_healthy{app="web",unit="web.service"} 1');
      expect(page).toMatch(/^archy_quadlet_passes_completed_total \d+$/m);
      // The node exporter's own word that it read the file without error.
      expect(page).toMatch(/^node_textfile_scrape_error 0$/m);

      await node().aq(['stop', 'web', '--wait', '--timeout', '60']);
      page = await seen('archy_quadlet_app_state{app="web",state="stopped"} 1');
      expect(page).toContain('archy_quadlet_app_desired_state{app="web",state="stopped"} 1');
      expect(page).toContain('archy_quadlet_app_converged{app="web"} 1');

      // An image that is not there: podman exits 125 at each start, systemd restarts it.
      await node().aq(['install', 'badimage'], { reject: false });
      page = await seen('archy_quadlet_unit_last_failure{app="badimage",reason="exit-code",unit="badimage.service"} 1');
      expect(page).toContain('archy_quadlet_app_converged{app="badimage"} 0');
      expect(page).toContain('archy_quadlet_node_converged 0');

      // execa drops the final newline, which the format requires.
      const text = `${(await node().aq(['metrics'])).stdout}\n`;
      const check = execFileSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(check).toBe('');
      expect(text).toContain('app="badimage"');

      await node().aq(['setup', '--remove']);
      expect(existsSync(`${dir}/archy_quadlet.prom`)).toBe(false);
    } finally {
      exporter.kill('SIGKILL');
      await exporter;
      await node().aq(['setup', '--remove'], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
