// Issue #3 benchmarks, in the lab, as the lab user, through the installed package:
// - a no-op reconcile pass at 10 / 50 / 200 installed running apps: systemctl and podman
//   processes (counted by PATH shims), writes, daemon-reloads, whole-process wall time;
// - install of a fresh app to active: our part (the CLI returns) and systemd's (to active);
// - the boot-time generator hook at 50 apps, against the Quadlet binary alone.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fmt, median, ratio, timePaired } from './lib.mjs';

const LAB = new URL('../../shared/lab/', import.meta.url).pathname;
const AS = join(LAB, 'as-user');
const user = process.env.ARCHY_LAB_USER ?? 'archy';
const [, , uid, gid, , home] = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).trim().split(':');
const own = (p) => chownSync(p, Number(uid), Number(gid));

function as(args, env = {}) {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return spawnSync(AS, ['env', ...envArgs, ...args], { encoding: 'utf8', cwd: '/', timeout: 600_000 });
}

export function reset() {
  as([
    'bash',
    '-c',
    'f=label=io.archipelago.managed-by=archy-quadlet; root=$HOME/.config/containers/systemd/archy-quadlet; units=$(ls $root 2>/dev/null | sed "s/$/.service/"); [ -n "$units" ] && systemctl --user kill -s KILL $units; [ -n "$units" ] && timeout 120 systemctl --user stop $units; rm -rf $root ~/.local/state/archy-quadlet; systemctl --user daemon-reload; systemctl --user reset-failed; podman ps -aq --filter $f | xargs -r podman rm -f -t 0 >/dev/null 2>&1; true',
  ]);
}

/**
 * n apps of one busybox container each. linked: bench0 provides the interface "svc" (with a
 * secret), and half of the others require it and read that secret by reference.
 */
export function catalog(n, linked = false) {
  const dir = mkdtempSync('/tmp/aq-bench-apps-');
  for (let i = 0; i < n; i++) {
    const id = `bench${i}`;
    const provider = linked && i === 0;
    const dependent = linked && i > 0 && i <= n / 2;
    mkdirSync(join(dir, id));
    writeFileSync(
      join(dir, id, 'manifest.yml'),
      `schemaVersion: 1\nid: ${id}\nname: Bench ${i}\nversion: "1"\n` +
        (provider ? `provides:\n  svc: { container: ${id}, port: 8080, secrets: [key] }\nsecrets:\n  key: {}\n` : '') +
        (dependent ? 'requires:\n  svc: {}\n' : '') +
        `containers:\n  - name: ${id}\n    image: localhost/busybox:latest\n    pull: never\n    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]\n    ports:\n      - hostIp: 127.0.0.1\n        hostPort: ${21000 + i}\n        containerPort: 8080\n    stopTimeout: 1s\n` +
        (provider ? '    secretFiles: [{ secret: key, target: /run/secrets/key }]\n' : '') +
        (dependent ? '    secretFiles: [{ secret: svc.key, target: /run/secrets/key }]\n' : ''),
    );
  }
  spawnSync('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

/** A directory of shims that log each call of systemctl / podman, then run the real one. */
function shims() {
  const dir = mkdtempSync('/tmp/aq-bench-shims-');
  for (const tool of ['systemctl', 'podman']) {
    writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> ${dir}/calls.log\nexec /usr/bin/${tool} "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  writeFileSync(join(dir, 'calls.log'), '');
  chmodSync(join(dir, 'calls.log'), 0o666);
  own(dir);
  return dir;
}

/** Installs n apps and waits until they run; returns how many did (the lab may not bring up all). */
export function installAll(apps, n) {
  const state = {
    version: 1,
    apps: Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`bench${i}`, { intent: 'running', installedAt: new Date().toISOString() }]),
    ),
  };
  as([
    'bash',
    '-c',
    `mkdir -p ~/.local/state/archy-quadlet && cat > ~/.local/state/archy-quadlet/state.json <<'JSON'\n${JSON.stringify(state)}\nJSON`,
  ]);
  let running = 0;
  // Bounded: a lab that cannot start them all (see scripts/lab-up) gets a row saying so, not a hung run.
  const deadline = Date.now() + Number(process.env.BENCH_INSTALL_MINUTES ?? 10) * 60_000;
  for (let pass = 0; pass < 60 && Date.now() < deadline; pass++) {
    as(['archy-quadlet', 'reconcile'], { ARCHY_QUADLET_APPS: apps });
    const r = as(['archy-quadlet', 'status', '--json'], { ARCHY_QUADLET_APPS: apps });
    running = JSON.parse(r.stdout).apps.filter((a) => a.state === 'running').length;
    if (running === n && settled(n)) return n;
    spawnSync('sleep', ['2']);
  }
  return running;
}

/** How the bench units that failed ended, counted by exit status (126: the container did not start). */
function failures() {
  const r = as([
    'bash',
    '-c',
    "u=$(systemctl --user list-units --state=failed --plain --no-legend 'bench*' | cut -d' ' -f1); [ -z \"$u\" ] || systemctl --user show -p ExecMainStatus --value $u | sort | uniq -c",
  ]);
  const counts = r.stdout.trim().split('\n').filter(Boolean);
  return counts.length ? `failed units by exit status: ${counts.map((c) => c.trim()).join(', ')}` : 'none failed';
}

/**
 * Whether a pass has recorded every app's last good set: until then (5 s after a container
 * without a health check starts) a pass still has that to write, and is no no-op.
 */
function settled(n) {
  const r = as(['cat', join(home, '.local/state/archy-quadlet/state.json')]);
  try {
    return Object.values(JSON.parse(r.stdout).apps).filter((a) => a.lastGood).length === n;
  } catch {
    return false;
  }
}

function mtimes(dir) {
  const out = spawnSync('find', [dir, '-type', 'f', '-printf', '%p %T@\\n'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).sort().join('\n');
}

export function benchSupervise(rows = []) {
  const noop = {};
  // BENCH_APP_COUNTS=10,50 to leave out the 200-app run (a cgroup v1 lab can fail to start 200).
  const counts = (process.env.BENCH_APP_COUNTS ?? '10,50,200').split(',').map(Number);
  for (const n of counts) {
    reset();
    // Each container start in this lab moves its user manager one cgroup level deeper in some
    // v1 hierarchies (see scripts/lab-up); a long session of tests reaches the kernel's path
    // limit and every start fails. lab-up moves it back up (a real host needs none of this).
    const tuned = spawnSync(
      'bash',
      [new URL('../scripts/lab-up', import.meta.url).pathname, join(LAB, 'up'), '--tune'],
      {
        encoding: 'utf8',
      },
    );
    if (tuned.status !== 0) throw new Error(`scripts/lab-up --tune failed (run the bench as root): ${tuned.stderr}`);
    const apps = catalog(n);
    const up = installAll(apps, n);
    if (up < n) {
      rows.push(
        `| no-op pass, ${n} running apps | not measured: only ${up} of ${n} apps came up in the lab (${failures()}) | | |`,
      );
      rmSync(apps, { recursive: true, force: true });
      continue;
    }
    const { m, min, systemctl, podman, reloads, writes } = measureNoop(apps, n);
    noop[n] = m;
    rows.push(
      `| no-op pass, ${n} running apps: whole CLI process (as the lab user) | ${fmt(m)} (min ${fmt(min)}); systemctl processes: ${systemctl}, podman: ${podman}, daemon-reloads: ${reloads}, files written: ${writes} | ${n === 50 ? '< 300 ms, 1 systemctl, 0 writes, 0 reloads' : ''} | ${n === 50 ? (m < 300 && systemctl === 1 && podman === 0 && writes === 0 ? 'met' : 'MISSED') : ''} |`,
    );
    // BENCH_NOOP_ONLY=1: the no-op passes alone (plain and linked), for a quick paired look.
    if (n === 10 && !process.env.BENCH_NOOP_ONLY) rows.push(benchActingPass(apps, n));
    if (n === 50) rows.push(benchStatus(apps, n));
    if (n === 50 && !process.env.BENCH_NOOP_ONLY) rows.push(...benchGenerator(apps));
    rmSync(apps, { recursive: true, force: true });
  }
  if (noop[50] && !process.env.BENCH_SKIP_LINKS) rows.push(...benchLinks(noop[50]));
  if (noop[200])
    rows.push(
      `| … growth: 10 → 50 → 200 apps | ${fmt(noop[10])} → ${fmt(noop[50])} → ${fmt(noop[200])} (${ratio(noop[200], noop[10])} for 20× the apps) | | |`,
    );
  if (!process.env.BENCH_NOOP_ONLY) rows.push(...benchInstall());
  reset();
  return rows;
}

/**
 * Issue 15: `status` at n running apps, paired with `node -e 0`, both run as the lab user
 * the same way (as-user), so the ratio holds while the machine drifts.
 */
function benchStatus(apps, n) {
  const {
    a,
    b,
    ratio: r,
  } = timePaired([AS, ['env', `ARCHY_QUADLET_APPS=${apps}`, 'archy-quadlet', 'status']], [AS, ['node', '-e', '0']], 11);
  return `| \`archy-quadlet status\` at ${n} running apps, paired with \`node -e 0\` (both as the lab user) | ${fmt(a)} / ${fmt(b)}: ${r.toFixed(2)}× | ≤ 3× | ${r <= 3 ? 'met' : 'MISSED'} |`;
}

/** A no-op reconcile at n installed running apps, 7 times: whole process, processes run, writes. */
function measureNoop(apps, n) {
  const unitRoot = join(home, '.config/containers/systemd/archy-quadlet');
  const stateDir = join(home, '.local/state/archy-quadlet');
  const sh = shims();
  const before = mtimes(unitRoot) + mtimes(stateDir);
  const times = [];
  for (let i = 0; i < 7; i++) {
    writeFileSync(join(sh, 'calls.log'), '');
    const t0 = process.hrtime.bigint();
    const r = as(['archy-quadlet', 'reconcile'], {
      ARCHY_QUADLET_APPS: apps,
      PATH: `${sh}:/usr/local/bin:/usr/bin:/bin`,
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!/converged/.test(r.stdout)) throw new Error(`pass at ${n} apps did not converge: ${r.stdout} ${r.stderr}`);
  }
  const calls = readFileSync(join(sh, 'calls.log'), 'utf8').split('\n').filter(Boolean);
  rmSync(sh, { recursive: true, force: true });
  return {
    m: median(times),
    min: Math.min(...times),
    systemctl: calls.filter((c) => c.startsWith('systemctl')).length,
    podman: calls.filter((c) => c.startsWith('podman')).length,
    reloads: calls.filter((c) => c.includes('daemon-reload')).length,
    writes: before === mtimes(unitRoot) + mtimes(stateDir) ? 0 : 'SOME',
  };
}

/**
 * Issue #10: the no-op pass at 50 running apps of which half depend on one provider (the
 * graph, the links in the render cache), against the same node without dependencies.
 */
function benchLinks(plainMs) {
  reset();
  const apps = catalog(50, true);
  const up = installAll(apps, 50);
  if (up < 50) {
    rmSync(apps, { recursive: true, force: true });
    return [`| no-op pass, 50 apps, 25 depending on one provider | not measured: only ${up} of 50 came up | | |`];
  }
  const r = measureNoop(apps, 50);
  rmSync(apps, { recursive: true, force: true });
  const ok = r.systemctl === 1 && r.podman === 0 && r.writes === 0 && r.reloads === 0;
  return [
    `| no-op pass, 50 running apps of which 25 depend on one provider (bench0) | ${fmt(r.m)} (min ${fmt(r.min)}); systemctl processes: ${r.systemctl}, podman: ${r.podman}, daemon-reloads: ${r.reloads}, files written: ${r.writes} | 1 systemctl, no podman, no write | ${ok ? 'met' : 'MISSED'} |`,
    `| … ratio to the same 50 apps without dependencies | ${ratio(r.m, plainMs)} | report | |`,
  ];
}

/**
 * A pass that acts, at n running apps: `restart` of one app (record the intent, observe,
 * plan, enqueue the restart, observe again). Its duration is the pass's own, as the pass
 * ledger records it (archy-quadlet.passes.json), without the CLI's start-up.
 */
function benchActingPass(apps, n) {
  const ledger = `/run/user/${uid}/archy-quadlet.passes.json`;
  const passes = [];
  const slowest = [];
  for (let i = 0; i < 7; i++) {
    const r = as(['archy-quadlet', 'restart', `bench${i}`], { ARCHY_QUADLET_APPS: apps });
    if (r.status !== 0) throw new Error(`restart bench${i}: ${r.stdout} ${r.stderr}`);
    const last = JSON.parse(readFileSync(ledger, 'utf8')).recent.at(-1);
    passes.push(last.ms);
    slowest.push(Math.max(...last.applied.map((o) => o.ms)));
    as(['archy-quadlet', 'start', `bench${i}`, '--wait', '--timeout', '60'], { ARCHY_QUADLET_APPS: apps });
  }
  return `| a pass that acts, ${n} running apps (\`restart\` of one app; the pass alone, from the pass ledger) | ${fmt(median(passes))} (max ${fmt(Math.max(...passes))}); slowest step ${fmt(median(slowest))} | well under 1 s | ${Math.max(...passes) < 1000 ? 'met' : 'MISSED'} |`;
}

function benchGenerator(apps) {
  const gen = '/usr/lib/node_modules/archy-quadlet/dist/cli/generator.js';
  const run = (stale, cold = false) => {
    const times = [];
    for (let i = 0; i < 7; i++) {
      const dirs = mkdtempSync('/tmp/aq-bench-gen-');
      for (const d of ['n', 'e', 'l']) mkdirSync(join(dirs, d));
      spawnSync('chown', ['-R', `${uid}:${gid}`, dirs]);
      if (stale)
        as([
          'bash',
          '-c',
          'for f in ~/.config/containers/systemd/archy-quadlet/*/*.container; do echo "# stale" >> "$f"; done',
        ]);
      if (cold) as(['rm', '-f', join(home, '.local/state/archy-quadlet/render-cache.json')]);
      const t0 = process.hrtime.bigint();
      const r = as(['node', gen, join(dirs, 'n'), join(dirs, 'e'), join(dirs, 'l')], { ARCHY_QUADLET_APPS: apps });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const made = spawnSync('ls', [join(dirs, 'e')], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((x) => x.endsWith('.service')).length;
      if (stale && made !== 50) throw new Error(`generator made ${made} units: ${r.stderr}`);
      rmSync(dirs, { recursive: true, force: true });
      if (stale) {
        as(['archy-quadlet', 'reconcile'], { ARCHY_QUADLET_APPS: apps });
        // That pass restarts the 50 containers (their files changed): the next run is measured
        // once systemd has no job left, not while 50 starts load the machine.
        waitNoJobs();
      }
    }
    return median(times);
  };
  const current = run(false);
  const stale = run(true);
  const cold = run(true, true);
  // Quadlet alone over the 50 apps' files: where they are (one folder per app), and copied
  // into one folder as the hook stages them (Quadlet's run grows with units × folders).
  const flatDir = mkdtempSync('/tmp/aq-bench-flat-');
  spawnSync('chown', [`${uid}:${gid}`, flatDir]);
  as(['bash', '-c', `cp ~/.config/containers/systemd/archy-quadlet/*/* ${flatDir}/`]);
  const copied = readdirSync(flatDir).length;
  if (copied !== 50) throw new Error(`the flat copy holds ${copied} files, not the 50 apps' units`);
  const quadletAlone = (dir) => {
    const q = [];
    for (let i = 0; i < 7; i++) {
      const out = mkdtempSync('/tmp/aq-bench-q-');
      spawnSync('chown', [`${uid}:${gid}`, out]);
      const t0 = process.hrtime.bigint();
      as(['/usr/libexec/podman/quadlet', '-user', '-no-kmsg-log', out], { QUADLET_UNIT_DIRS: dir });
      q.push(Number(process.hrtime.bigint() - t0) / 1e6);
      rmSync(out, { recursive: true, force: true });
    }
    return median(q);
  };
  const qm = quadletAlone(join(home, '.config/containers/systemd/archy-quadlet'));
  const qFlat = quadletAlone(flatDir);
  rmSync(flatDir, { recursive: true, force: true });
  // The floor of any hook that runs Node: Node's own start through the same path (as-user),
  // and that start plus Quadlet's run (the as-user cost, counted in both, taken once).
  const timeAs = (args) => {
    const t = [];
    for (let i = 0; i < 7; i++) {
      const t0 = process.hrtime.bigint();
      as(args);
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return median(t);
  };
  const nodeStart = timeAs(['node', '-e', '0']);
  const asUser = timeAs(['true']);
  const floor = nodeStart + qFlat - asUser;
  return [
    `| generator hook, 50 apps, all units current (nothing to override) | ${fmt(current)} | < 250 ms | ${current < 250 ? 'met' : 'MISSED'} |`,
    `| generator hook, 50 apps, every unit file on disk stale (all 50 overridden through Quadlet into the early dir; manifests in the render cache) | ${fmt(stale)} | < 250 ms | ${stale < 250 ? 'met' : 'MISSED'} |`,
    `| generator hook, 50 apps, stale and no render cache (every manifest parsed, validated, rendered) | ${fmt(cold)} | (worst case) | |`,
    `| … ratio to the Quadlet generator alone on the same 50 apps (${fmt(qm)}) | current ${ratio(current, qm)}, stale ${ratio(stale, qm)}, cold ${ratio(cold, qm)} | stale ≤ 1.2×, cold ≤ 2× (issue 15) | ${stale / qm <= 1.2 && cold / qm <= 2 ? 'met' : 'MISSED'} |`,
    `| … the floor of a hook in Node: \`node -e 0\` as the lab user (${fmt(nodeStart)}; \`true\` ${fmt(asUser)}), and that start plus Quadlet's run over the 50 apps staged flat (${fmt(qFlat)}) | ${ratio(nodeStart, qm)} and ${ratio(floor, qm)} Quadlet alone, before any work | report | |`,
  ];
}

/** Until systemd has no job queued or running (at most 2 minutes), then a second more. */
function waitNoJobs() {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = as(['systemctl', '--user', 'list-jobs', '--no-legend']);
    if (r.status === 0 && r.stdout.trim() === '') break;
    spawnSync('sleep', ['0.5']);
  }
  spawnSync('sleep', ['1']);
}

function benchInstall() {
  reset();
  const apps = catalog(1);
  const ours = [];
  const theirs = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    as(['archy-quadlet', 'install', 'bench0'], { ARCHY_QUADLET_APPS: apps });
    const t1 = process.hrtime.bigint();
    for (;;) {
      const s = as(['systemctl', '--user', 'is-active', 'bench0.service']).stdout.trim();
      if (s === 'active') break;
    }
    const t2 = process.hrtime.bigint();
    ours.push(Number(t1 - t0) / 1e6);
    theirs.push(Number(t2 - t1) / 1e6);
    as(['archy-quadlet', 'uninstall', 'bench0', '--wait', '--timeout', '60'], { ARCHY_QUADLET_APPS: apps });
  }
  rmSync(apps, { recursive: true, force: true });
  const o = median(ours);
  const t = median(theirs);
  return [
    `| install of a fresh app to active: archy-quadlet (validate, render, write, reload, enqueue start; CLI returns) / systemd + podman (to active) | ${fmt(o)} / ${fmt(t)} (${Math.round((100 * o) / (o + t))}% ours) | report | |`,
  ];
}
