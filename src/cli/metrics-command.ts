import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { createLogger } from '../supervise/logger.js';
import { createSupervisor, currentView } from '../supervise/supervisor.js';
import { readLedger } from '../supervise/pass-ledger.js';
import { nodeMetricsText } from '../metrics/node-metrics.js';

/** `archy-quadlet metrics`: the node's state now, in Prometheus' text format. */
export async function metricsCommand(a: { io: CliIo; paths: Paths }): Promise<number> {
  const sv = createSupervisor(a.paths, a.io.env, createLogger({ human: a.io.isTty, write: a.io.stderr }));
  const [view, ledger] = await Promise.all([currentView(sv), readLedger(sv.ledgerPath)]);
  a.io.stdout(nodeMetricsText(view, ledger));
  return EXIT.ok;
}
