// Issue 13 benchmark, in the lab, as the lab user, through the installed package: the
// downtime of an update of a 3-container stack (db → api → web, each health-gated) to a new
// release, against a stop and start of the same app. Downtime is the longest stretch during
// which web's page did not answer, probed every 20 ms from here.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fmt, median, ratio } from './lib.mjs';

const AS = new URL('../../shared/lab/as-user', import.meta.url).pathname;
const PORT = 21501;
const RUNS = Number(process.env.BENCH_UPDATE_RUNS ?? 3);

function manifest(release) {
  const c = (name, port, cmd, extra = '') =>
    `  - name: ${name}\n    image: localhost/busybox:latest\n    pull: never\n    environment:\n      RELEASE: "${release}"\n` +
    // The image's root is read-only to a container without capabilities: the page lives on a tmpfs.
    `    tmpfs:\n      - target: /srv\n` +
    `    command: ["sh", "-c", ${JSON.stringify(cmd)}]\n    networkAliases: [${name}]\n` +
    `    healthcheck:\n      tcp: ${port}\n      interval: 1s\n    stopSignal: SIGKILL\n    stopTimeout: 2s\n    startTimeout: 60s\n${extra}`;
  const serve = (port, body) => `mkdir -p /srv && echo ${body} > /srv/index.html && exec httpd -f -p ${port} -h /srv`;
  return (
    `schemaVersion: 1\nid: benchstack\nname: Bench stack\nversion: "${release}"\nnetwork: private\ncontainers:\n` +
    c('db', 5432, serve(5432, 'db')) +
    c('api', 3000, serve(3000, 'api'), '    dependsOn: { db: hard }\n') +
    c(
      'web',
      8080,
      serve(8080, 'web'),
      `    dependsOn: { api: hard }\n    ports:\n      - hostIp: 127.0.0.1\n        hostPort: ${PORT}\n        containerPort: 8080\n`,
    )
  );
}

function as(args, env = {}) {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return spawnSync(AS, ['env', ...envArgs, ...args], { encoding: 'utf8', cwd: '/', timeout: 600_000 });
}

function asAsync(args, env = {}) {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve) => {
    const p = spawn(AS, ['env', ...envArgs, ...args], { cwd: '/', stdio: 'ignore' });
    p.on('exit', (code) => resolve(code));
  });
}

const answers = () =>
  new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port: PORT, path: '/', timeout: 500 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      // A response cut short (the container killed mid-answer) ends with no 'end': a probe
      // that never settled left the bench's top-level await pending (Node exits 13).
      res.on('close', () => resolve(res.complete && res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });

/** Runs `work` while probing the page; the longest time it did not answer (ms), and whether it answers at the end. */
async function downtimeDuring(work) {
  let longest = 0;
  let downSince;
  let done = false;
  const probe = (async () => {
    while (!done) {
      const t = performance.now();
      const ok = await answers();
      if (!ok && downSince === undefined) downSince = t;
      if (ok && downSince !== undefined) {
        longest = Math.max(longest, performance.now() - downSince);
        downSince = undefined;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await work();
  // Until it answers again (a start --wait returns once systemd says active).
  const until = performance.now() + 60_000;
  while (!(await answers()) && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  if (downSince !== undefined) longest = Math.max(longest, performance.now() - downSince);
  done = true;
  await probe;
  return longest;
}

export async function benchUpdate() {
  const apps = mkdtempSync('/tmp/aq-bench-update-');
  mkdirSync(join(apps, 'benchstack'));
  const write = (release) => {
    writeFileSync(join(apps, 'benchstack', 'manifest.yml'), manifest(release));
    spawnSync('chmod', ['-R', 'a+rX', apps]);
  };
  const env = { ARCHY_QUADLET_APPS: apps };
  write('1');
  as(['archy-quadlet', 'uninstall', 'benchstack', '--purge', '--wait', '--timeout', '60'], env);
  as(['archy-quadlet', 'install', 'benchstack', '--wait', '--timeout', '120'], env);
  // The last good set is recorded by a pass once the stack has settled.
  let settled = false;
  for (let i = 0; i < 90 && !settled; i++) {
    as(['archy-quadlet', 'reconcile'], env);
    const state = as(['bash', '-c', 'cat ~/.local/state/archy-quadlet/state.json']).stdout;
    settled = Boolean(state && JSON.parse(state).apps?.benchstack?.lastGood);
    if (!settled) spawnSync('sleep', ['1']);
  }
  // A stack that never came up would time stops and starts of nothing: say so instead.
  if (!settled)
    throw new Error(`benchstack did not become healthy:\n${as(['archy-quadlet', 'status', 'benchstack'], env).stdout}`);
  const update = [];
  const restart = [];
  for (let i = 0; i < RUNS; i++) {
    write(String(i + 2));
    update.push(
      await downtimeDuring(() => asAsync(['archy-quadlet', 'update', 'benchstack', '--wait', '--timeout', '120'], env)),
    );
    restart.push(
      await downtimeDuring(async () => {
        await asAsync(['archy-quadlet', 'stop', 'benchstack', '--wait', '--timeout', '60'], env);
        await asAsync(['archy-quadlet', 'start', 'benchstack', '--wait', '--timeout', '120'], env);
      }),
    );
  }
  as(['archy-quadlet', 'uninstall', 'benchstack', '--purge', '--wait', '--timeout', '60'], env);
  rmSync(apps, { recursive: true, force: true });
  const u = median(update);
  const r = median(restart);
  return [
    `| update of a 3-container stack (new release, health-gated): downtime of its page / stop + start of the same stack (${RUNS} runs each) | ${fmt(u)} / ${fmt(r)} (${ratio(u, r)}) | report | |`,
  ];
}
