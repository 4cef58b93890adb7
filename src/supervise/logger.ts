import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { StepOutcome } from './apply-steps.js';

/**
 * pino to stderr: one JSON line per event (journald keeps it as is), or, on a terminal,
 * the same events as short human lines.
 */
export function createLogger(opts: { human: boolean; write?: (line: string) => void; level?: string }): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const stream = new Writable({
    write(chunk, _enc, done) {
      const line = String(chunk);
      write(opts.human ? humanLine(line) : line);
      done();
    },
  });
  return pino({ base: undefined, level: opts.level ?? 'info', timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

function humanLine(json: string): string {
  try {
    const e = JSON.parse(json) as Record<string, unknown>;
    const units = Array.isArray(e.units) ? ` ${(e.units as string[]).join(' ')}` : e.unit ? ` ${String(e.unit)}` : '';
    const what = e.step ? `${String(e.step)}${units}` : String(e.msg ?? '');
    const tail = [e.reason, e.durationMs !== undefined ? `${String(e.durationMs)} ms` : undefined]
      .filter(Boolean)
      .join(', ');
    const fail = e.outcome === 'failed' ? ` FAILED: ${String(e.error)}` : '';
    return `${e.app ? `${String(e.app)}: ` : ''}${what}${tail ? ` (${tail})` : ''}${fail}\n`;
  } catch {
    return json;
  }
}

/** The one log line per applied step: app, unit(s), step, reason, duration, outcome. Never a secret's value. */
export function logOutcome(log: Logger, o: StepOutcome): void {
  const { step } = o;
  const units = 'units' in step ? { units: step.units } : 'unit' in step && step.unit ? { unit: step.unit } : {};
  const target =
    'path' in step
      ? { path: step.path }
      : 'container' in step
        ? { container: step.container }
        : 'secret' in step
          ? { secret: step.secret }
          : 'volume' in step
            ? { volume: step.volume }
            : {};
  const fields = {
    app: step.app,
    ...units,
    ...target,
    step: step.kind,
    reason: step.reason,
    durationMs: o.ms,
    outcome: o.ok ? 'ok' : 'failed',
    ...(o.error ? { error: o.error } : {}),
  };
  if (o.ok) log.info(fields, 'step');
  else log.error(fields, 'step');
}
