import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT } from './exit-codes.js';
import { BUNDLED_APPS_DIR, type CliIo } from './io.js';
import { resolvePaths } from '../paths.js';
import { readNodeConfig, SYSTEM_CONFIG_FILE, type ResolvedConfig } from '../config/node-config.js';
import type { IntentChange } from '../supervise/intents.js';

// Each verb's module is loaded only when that verb runs: a reconcile pass does not pay for
// the renderer, the schema or the YAML parser unless a manifest changed.
const validateCommand: typeof import('./validate-command.js').validateCommand = async (a) =>
  (await import('./validate-command.js')).validateCommand(a);
const renderCommand: typeof import('./render-command.js').renderCommand = async (a) =>
  (await import('./render-command.js')).renderCommand(a);
const intentCommand: typeof import('./supervise-commands.js').intentCommand = async (a) =>
  (await import('./supervise-commands.js')).intentCommand(a);
const reconcileCommand: typeof import('./supervise-commands.js').reconcileCommand = async (a) =>
  (await import('./supervise-commands.js')).reconcileCommand(a);
const statusCommand: typeof import('./supervise-commands.js').statusCommand = async (a) =>
  (await import('./supervise-commands.js')).statusCommand(a);
const setupCommand: typeof import('./ops-commands.js').setupCommand = async (a) =>
  (await import('./ops-commands.js')).setupCommand(a);
const watchCommand: typeof import('./ops-commands.js').watchCommand = async (a) =>
  (await import('./ops-commands.js')).watchCommand(a);
const generateCommand: typeof import('./ops-commands.js').generateCommand = async (a) =>
  (await import('./ops-commands.js')).generateCommand(a);

// From package.json, two levels up from both src/cli and dist/cli: one version to bump.
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** Parses argv (without node and script), runs the verb, returns the exit code. Never exits the process. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; everything else commander rejects is a usage error.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.stderr(`archy-quadlet: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
  return code;
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('archy-quadlet')
    .description('Render Archipelago app manifests into Podman Quadlet units, and keep systemd running them.')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .configureHelp(io.helpWidth ? { helpWidth: io.helpWidth } : {})
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Where manifests come from: --apps DIR, else $ARCHY_QUADLET_APPS, else the node
configuration's catalog (archy-quadlet config), else the bundled catalog.
Exit codes: 0 ok, 1 cannot be done as asked (an invalid manifest, an app not in the catalog
or not installed), 2 usage error, 3 failure of the environment, 4 --wait gave up;
doctor: 5 a warning, 6 a failed check.`,
    );
  const appsOption = () => new Option('--apps <dir>', 'catalog of manifests (one folder per app)');
  // The node's configuration, read once per process: every verb (and the timer, the watcher
  // and the boot hook, which run verbs) sees the same catalog, data root and node network.
  let nodeConfig: ResolvedConfig | undefined;
  const configOf = () => (nodeConfig ??= readNodeConfig(io.env, io.home));
  const pathsFor = (apps: string | undefined, opts: { tolerant?: boolean } = {}) => {
    const config = configOf();
    if (config.problems.length > 0 && !opts.tolerant) {
      const p = config.problems[0]!;
      const more = config.problems.length > 1 ? ` (and ${config.problems.length - 1} more: archy-quadlet config)` : '';
      throw new Error(`configuration ${p.file}:${p.line}: ${p.message}${more}`);
    }
    return resolvePaths({ env: io.env, home: io.home, bundledAppsDir: BUNDLED_APPS_DIR, appsOption: apps, config });
  };

  program
    .command('validate')
    .description(
      'check manifests against the schema and each other; print every error as file:line:col: field: message',
    )
    .argument('[app...]', 'app ids (default: every app of the catalog)')
    .addOption(appsOption())
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  archy-quadlet validate\n' +
        '  archy-quadlet validate immich mempool --json\n' +
        '  archy-quadlet validate --apps ./my-apps',
    )
    .action(async (apps: string[], opts: { apps?: string; json?: boolean }) => {
      setExit(await validateCommand({ io, paths: pathsFor(opts.apps), appIds: apps, json: Boolean(opts.json) }));
    });

  program
    .command('render')
    .description(
      'render manifests into Quadlet units in --out DIR, checked by the real generator; ' +
        'without --out, show what the supervisor would write for the installed apps',
    )
    .argument(
      '[app...]',
      'app ids (default: every app of the catalog with --out, every installed app without; ' +
        'with --out, apps gone from the catalog lose their units)',
    )
    .addOption(appsOption())
    .option(
      '--out <dir>',
      "directory to write the units into (never the supervisor's own unit tree); without it nothing is written",
    )
    .option('--dry-run', 'with --out: show what would change, write nothing')
    .option('--diff', 'show a unified diff of each change')
    .option('--no-boot', 'do not start the apps at boot (no [Install] WantedBy=default.target)')
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  archy-quadlet render --out /tmp/units    # every app of the catalog, into /tmp/units/<app>/\n' +
        '  archy-quadlet render --diff              # what the supervisor would change in its unit tree\n' +
        '  archy-quadlet render immich --out /tmp/units --dry-run --json',
    )
    .action(
      async (
        apps: string[],
        opts: { apps?: string; out?: string; dryRun?: boolean; diff?: boolean; boot: boolean; json?: boolean },
      ) => {
        setExit(
          await renderCommand({
            io,
            paths: pathsFor(opts.apps),
            appIds: apps,
            outDir: opts.out,
            dryRun: Boolean(opts.dryRun),
            diff: Boolean(opts.diff),
            boot: opts.boot,
            json: Boolean(opts.json),
          }),
        );
      },
    );
  const intentVerb = (
    name: string,
    change: (o: { purge?: boolean }) => IntentChange,
    description: string,
    example: string,
  ) => {
    const cmd = program
      .command(name)
      .description(description)
      .argument('<app>', 'app id')
      .addOption(appsOption())
      .option(
        '--wait',
        'block until the app reached what was asked, showing what happens ' +
          '(building, pulling, starting, waiting for health, stopping)',
      )
      .option(
        '--timeout <seconds>',
        "with --wait: give up after this long (exit 4); default: the app's own start (or stop) timeouts",
        parsePositiveInt,
      )
      .option('--json', 'print a JSON report');
    if (name === 'uninstall')
      cmd.option('--purge', "also remove the app's volumes (its data) and secrets, and say what was removed");
    if (name === 'install')
      cmd
        .option(
          '--with-dependencies',
          "also install, first, the catalog's default provider of each interface the app requires that no installed app provides",
        )
        .option(
          '--replace',
          'uninstall the installed provider of an interface this app provides (data kept); its dependents follow this app',
        );
    if (name === 'uninstall' || name === 'stop')
      cmd.option(
        '--cascade',
        `also ${name === 'stop' ? 'stop' : 'uninstall (data kept)'} the apps that need this one, first (refused without it)`,
      );
    cmd.addHelpText('after', `\nExample:\n  ${example}`).action(
      async (
        app: string,
        opts: {
          apps?: string;
          wait?: boolean;
          timeout?: number;
          json?: boolean;
          purge?: boolean;
          withDependencies?: boolean;
          replace?: boolean;
          cascade?: boolean;
        },
      ) => {
        setExit(
          await intentCommand({
            io,
            paths: pathsFor(opts.apps),
            json: Boolean(opts.json),
            app,
            change: change(opts),
            links: {
              ...(opts.withDependencies ? { withDependencies: true } : {}),
              ...(opts.replace ? { replace: true } : {}),
              ...(opts.cascade ? { cascade: true } : {}),
            },
            wait: Boolean(opts.wait),
            timeoutSec: opts.timeout,
          }),
        );
      },
    );
  };
  intentVerb(
    'install',
    () => 'install',
    'install an app from the catalog and start it (records the intent, runs one pass, returns)',
    'archy-quadlet install filebrowser --wait',
  );
  intentVerb(
    'uninstall',
    (o) => (o.purge ? 'purge' : 'uninstall'),
    'stop an app and remove its units and containers; volumes and secrets stay unless --purge',
    'archy-quadlet uninstall immich --purge',
  );
  intentVerb('start', () => 'start', 'start an installed app (and start it at boot again)', 'archy-quadlet start lnd');
  intentVerb(
    'stop',
    () => 'stop',
    'stop an installed app; it stays stopped across crashes, passes and reboots',
    'archy-quadlet stop bitcoin-knots',
  );
  intentVerb(
    'restart',
    () => 'restart',
    'restart every container of an installed app',
    'archy-quadlet restart mempool --wait',
  );

  program
    .command('update')
    .description(
      'update installed apps to their manifests now: new images pulled first while the old version runs, ' +
        'the new units health-gated, rolled back to the last good set if they do not become healthy in time',
    )
    .argument('[app]', 'app id (default: every installed app)')
    .addOption(appsOption())
    .option('--check', 'list what an update would change (images, unit file diffs); change nothing')
    .option('--retry', 'try again a version that was rolled back (it is not tried again on its own)')
    .option('--wait', 'block until the update is done or rolled back, showing what happens')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 4)', parsePositiveInt)
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      `
Every pass updates an app whose manifest changed the same way: this verb runs one now, and
says how it went. Exit: 0; 1 not installed; 3 a step failed, or (with --wait) the update was
rolled back; 4 --wait gave up.

Examples:
  archy-quadlet update --check
  archy-quadlet update mempool --wait
  archy-quadlet update mempool --retry --wait`,
    )
    .action(
      async (
        app: string | undefined,
        opts: { apps?: string; check?: boolean; retry?: boolean; wait?: boolean; timeout?: number; json?: boolean },
      ) => {
        const { updateCommand } = await import('./update-command.js');
        setExit(
          await updateCommand({
            io,
            paths: pathsFor(opts.apps),
            json: Boolean(opts.json),
            ...(app !== undefined ? { app } : {}),
            check: Boolean(opts.check),
            retry: Boolean(opts.retry),
            wait: Boolean(opts.wait),
            timeoutSec: opts.timeout,
          }),
        );
      },
    );

  program
    .command('adopt')
    .description(
      'take over an app that runs as plain `podman run` containers: compare them with the manifest, ' +
        'import its secrets, then replace them by its units (rolled back if they do not become healthy)',
    )
    .argument('<app>', 'app id')
    .addOption(appsOption())
    .option('--dry-run', 'print the comparison and the plan; change nothing')
    .option(
      '--secret <name=file>',
      "import the file's exact bytes into the app's secret NAME (repeatable; wins over the manifest's adoptFrom)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--wait', 'block until the app is adopted or rolled back, showing what happens')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 4)', parsePositiveInt)
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      `
The old containers are found by the manifest's container names (or containers[].adoptFrom). Refused,
with nothing changed, when a mount of theirs has no counterpart in the manifest (same volume name or
host path), the image repository, user or user namespace differ, or a secret file is missing.
Exit: 0; 1 refused (the problems are printed); 3 a step failed; 4 --wait gave up.

Examples:
  archy-quadlet adopt electrumx --dry-run
  archy-quadlet adopt bitcoin-knots --secret rpc-password=/var/lib/archipelago/secrets/bitcoin-rpc-password --wait`,
    )
    .action(
      async (
        app: string,
        opts: { apps?: string; dryRun?: boolean; secret?: string[]; wait?: boolean; timeout?: number; json?: boolean },
      ) => {
        const { adoptCommand } = await import('./adopt-command.js');
        setExit(
          await adoptCommand({
            io,
            paths: pathsFor(opts.apps),
            json: Boolean(opts.json),
            app,
            dryRun: Boolean(opts.dryRun),
            secrets: opts.secret ?? [],
            wait: Boolean(opts.wait),
            timeoutSec: opts.timeout,
          }),
        );
      },
    );

  program
    .command('reconcile')
    .description('one pass: compare what should run with what systemd says runs, and issue the steps between them')
    .addOption(appsOption())
    .option('--dry-run', 'print the plan, change nothing')
    .option('--json', 'print a JSON report')
    .addHelpText('after', '\nExamples:\n  archy-quadlet reconcile --dry-run\n  archy-quadlet reconcile --json')
    .action(async (opts: { apps?: string; dryRun?: boolean; json?: boolean }) => {
      setExit(
        await reconcileCommand({
          io,
          paths: pathsFor(opts.apps),
          json: Boolean(opts.json),
          dryRun: Boolean(opts.dryRun),
        }),
      );
    });

  program
    .command('status')
    .description('per app and unit: wanted, actual (starting/stopping included), last failure')
    .argument('[app]', 'one app id (default: every installed app)')
    .addOption(appsOption())
    .option('--json', 'print a JSON report')
    .addHelpText('after', '\nExamples:\n  archy-quadlet status\n  archy-quadlet status immich --json')
    .action(async (app: string | undefined, opts: { apps?: string; json?: boolean }) => {
      setExit(
        await statusCommand({
          io,
          paths: pathsFor(opts.apps),
          json: Boolean(opts.json),
          ...(app !== undefined ? { app } : {}),
        }),
      );
    });
  program
    .command('watch')
    .description(
      'long-running: a pass whenever a manifest or the state changes, and every --interval seconds; ' +
        'stops cleanly on SIGTERM',
    )
    .addOption(appsOption())
    .option('--interval <seconds>', 'seconds between passes without changes', parsePositiveInt, 30)
    .addHelpText('after', '\nExample:\n  archy-quadlet watch --interval 30')
    .action(async (opts: { apps?: string; interval: number }) => {
      setExit(await watchCommand({ io, paths: pathsFor(opts.apps), intervalSec: opts.interval }));
    });

  program
    .command('setup')
    .description(
      'install the reconcile timer (and --watch service) for this user, ' +
        'or with --system as root the boot-time generator hook',
    )
    .addOption(appsOption())
    .option('--watch', 'also install and start archy-quadlet-watch.service')
    .option('--system', 'as root: install /etc/systemd/user-generators/archy-quadlet')
    .addOption(
      new Option(
        '--metrics <dir>',
        "every pass writes the node's metrics (archy_quadlet.prom) into this node exporter textfile-collector directory",
      ).conflicts(['system', 'remove']),
    )
    .option('--remove', 'undo what setup installed (apps are left as they are)')
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      '\nExamples:\n  archy-quadlet setup --watch\n  sudo archy-quadlet setup --system\n' +
        '  archy-quadlet setup --metrics /var/lib/prometheus/node-exporter\n  archy-quadlet setup --remove',
    )
    .action(
      async (opts: {
        apps?: string;
        watch?: boolean;
        system?: boolean;
        remove?: boolean;
        metrics?: string;
        json?: boolean;
      }) => {
        setExit(
          await setupCommand({
            io,
            paths: pathsFor(opts.apps),
            system: Boolean(opts.system),
            remove: Boolean(opts.remove),
            watch: Boolean(opts.watch),
            appsOption: opts.apps,
            metricsDir: opts.metrics,
            json: Boolean(opts.json),
          }),
        );
      },
    );

  program
    .command('metrics')
    .description(
      "the node's state in Prometheus' text format: per app and unit, wanted and actual state, health, restarts, " +
        'backoff, last failure; per node, the last pass',
    )
    .addOption(appsOption())
    .addHelpText('after', '\nExamples:\n  archy-quadlet metrics\n  archy-quadlet metrics | promtool check metrics')
    .action(async (opts: { apps?: string }) => {
      const { metricsCommand } = await import('./metrics-command.js');
      setExit(await metricsCommand({ io, paths: pathsFor(opts.apps) }));
    });

  program
    .command('generate')
    .description(
      "the systemd generator hook: render the installed apps into systemd's early generator directory " +
        '(normally run by systemd itself)',
    )
    .argument('<normal>', 'normal generator directory')
    .argument('<early>', 'early generator directory (written)')
    .argument('<late>', 'late generator directory')
    .addOption(appsOption())
    .action(async (normal: string, early: string, late: string, opts: { apps?: string }) => {
      setExit(await generateCommand({ io, paths: pathsFor(opts.apps), dirs: [normal, early, late] }));
    });
  program
    .command('doctor')
    .description(
      'checks of this node (Podman and its own state, Quadlet, user manager, bus, linger, cgroups, ids, ports, ' +
        'units, hook, timer, state, secrets), each with its fix; read-only unless --fix',
    )
    .addOption(appsOption())
    .option('--json', 'print a JSON report')
    .option(
      '--fix',
      "recover Podman's own state when a check found it broken (a stale runtime, volumes its database lost, " +
        'a network helper gone), ' +
        'then check again; never touches volume data, images or secrets',
    )
    .addHelpText(
      'after',
      '\nExit: 0 all passed, 5 the worst is a warning, 6 a check failed (after --fix: of the checks run again).\n' +
        '\nExamples:\n  archy-quadlet doctor\n  archy-quadlet doctor --json\n  archy-quadlet doctor --fix',
    )
    .action(async (opts: { apps?: string; json?: boolean; fix?: boolean }) => {
      const { doctorCommand } = await import('./doctor-command.js');
      // Tolerant: a malformed configuration is one of the things doctor reports.
      setExit(
        await doctorCommand({
          io,
          paths: pathsFor(opts.apps, { tolerant: true }),
          json: Boolean(opts.json),
          fix: Boolean(opts.fix),
        }),
      );
    });

  program
    .command('config')
    .description(
      'the node configuration in force (catalog, data root, node network), where each value comes from, and the catalog each installed app came from',
    )
    .addOption(appsOption())
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      `\nFiles: ${SYSTEM_CONFIG_FILE} (the image's default), then $XDG_CONFIG_HOME/archy-quadlet/config.yml,
which wins key by key. Keys: catalog, dataRoot (absolute paths), nodeNetwork: { name, subnet }.
Exit: 0, or 3 when a file is malformed (each problem is printed with its file and line).

Examples:\n  archy-quadlet config\n  archy-quadlet config --json`,
    )
    .action(async (opts: { apps?: string; json?: boolean }) => {
      const { configCommand } = await import('./config-command.js');
      setExit(
        await configCommand({
          io,
          paths: pathsFor(opts.apps, { tolerant: true }),
          config: configOf(),
          json: Boolean(opts.json),
        }),
      );
    });

  program
    .command('explain')
    .description(
      'one app in full: manifest (redacted), rendered units, the generated .service files, unit states, ' +
        "and the last failure's cause and fix",
    )
    .argument('<app>', 'app id')
    .addOption(appsOption())
    .option('--json', 'print a JSON report')
    .addHelpText('after', '\nExamples:\n  archy-quadlet explain immich\n  archy-quadlet explain lnd --json')
    .action(async (app: string, opts: { apps?: string; json?: boolean }) => {
      const { explainCommand } = await import('./explain-command.js');
      const { IntentError } = await import('../supervise/intents.js');
      const { StateError } = await import('../supervise/state-store.js');
      try {
        setExit(await explainCommand({ io, paths: pathsFor(opts.apps), app, json: Boolean(opts.json) }));
      } catch (e) {
        if (!(e instanceof IntentError || e instanceof StateError)) throw e;
        io.stderr(`archy-quadlet: ${e.message}\n`);
        setExit(e instanceof IntentError ? EXIT.invalid : EXIT.failure);
      }
    });

  const secret = program
    .command('secret')
    .description("the secrets an app declares: list them, or show one's value on this terminal (an admin password)");
  secret
    .command('list')
    .description(
      'name the secrets an installed app declares, what each is for, and whether Podman holds it (never a value)',
    )
    .argument('<app>', 'app id')
    .addOption(appsOption())
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      '\nExamples:\n  archy-quadlet secret list filebrowser\n  archy-quadlet secret list lnd --json',
    )
    .action(async (app: string, opts: { apps?: string; json?: boolean }) => {
      const { secretListCommand } = await import('./secret-command.js');
      setExit(await secretListCommand({ io, paths: pathsFor(opts.apps), app, json: Boolean(opts.json) }));
    });
  secret
    .command('show')
    .description(
      "print one secret's value: the only verb that does; on a terminal only, unless --pipe (no --json, never logged)",
    )
    .argument('<app>', 'app id')
    .argument('<name>', 'the secret, as secret list names it')
    .addOption(appsOption())
    .option('--pipe', 'print it although the output is not a terminal (a program reading it on purpose)')
    .addHelpText(
      'after',
      '\nExit: 0; 1 no such app or secret, not created yet, or the output is not a terminal without --pipe.\n' +
        '\nExample:\n  archy-quadlet secret show filebrowser admin-password',
    )
    .action(async (app: string, name: string, opts: { apps?: string; pipe?: boolean }) => {
      const { secretShowCommand } = await import('./secret-command.js');
      setExit(await secretShowCommand({ io, paths: pathsFor(opts.apps), app, name, pipe: Boolean(opts.pipe) }));
    });

  program
    .command('completion')
    .description('print a shell completion script (bash or zsh), generated from these commands')
    .argument('<shell>', 'bash or zsh')
    .addHelpText(
      'after',
      '\nExamples:\n  source <(archy-quadlet completion bash)\n' +
        '  archy-quadlet completion zsh > ~/.zfunc/_archy-quadlet',
    )
    .action(async (shell: string) => {
      const { bashCompletion, completionSpec, zshCompletion } = await import('./completion.js');
      if (shell !== 'bash' && shell !== 'zsh') {
        io.stderr(`archy-quadlet: no completion for "${shell.slice(0, 32)}" (bash or zsh)\n`);
        setExit(EXIT.usage);
        return;
      }
      const spec = completionSpec(program, BUNDLED_APPS_DIR);
      io.stdout(shell === 'bash' ? bashCompletion(spec) : zshCompletion(spec));
    });
  return program;
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 86_400)
    throw new InvalidArgumentError('must be a whole number of seconds from 1 to 86400');
  return n;
}
