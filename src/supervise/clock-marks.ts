import type { BackoffEntry, Observed } from './types.js';

// Time the supervisor measures (backoff, update and adoption deadlines) rests on the
// monotonic clock, which a wall-clock jump (NTP after a boot without an RTC, a user setting
// the date) does not move. The monotonic clock restarts at each boot, so every mark also
// keeps the wall time and the boot it was taken in: within the boot the monotonic clock
// decides; across a reboot only the wall clock spans the gap, and is used then.

/** A moment on both clocks. */
export interface ClockMark {
  /** Wall clock, ms since the epoch. */
  atMs: number;
  /** CLOCK_MONOTONIC µs (as systemd's *TimestampMonotonic), and the boot it belongs to. */
  atMono?: number;
  bootId?: string;
}

type Now = Pick<Observed, 'nowMs' | 'nowMono' | 'bootId'>;

/** A mark of now. */
export function markNow(o: Now): ClockMark {
  return { atMs: o.nowMs, atMono: o.nowMono, ...(o.bootId ? { bootId: o.bootId } : {}) };
}

/** Milliseconds since the mark: monotonic within its boot, wall clock across a reboot. */
export function elapsedMs(mark: ClockMark, o: Now): number {
  if (mark.atMono !== undefined && mark.bootId !== undefined && mark.bootId === o.bootId)
    return (o.nowMono - mark.atMono) / 1000;
  return o.nowMs - mark.atMs;
}

/**
 * Milliseconds before a backed-off unit may start again (0: now). Within the boot it was set
 * in, by the monotonic clock; otherwise by the wall clock, never longer than the delay itself
 * (a clock set back after the reboot would otherwise hold the app for as long as it jumped).
 */
export function backoffRemainingMs(b: BackoffEntry, o: Now): number {
  if (b.delayMs !== undefined && b.setMono !== undefined && b.bootId !== undefined && b.bootId === o.bootId)
    return Math.max(0, b.delayMs - (o.nowMono - b.setMono) / 1000);
  const wall = Math.max(0, b.notBeforeMs - o.nowMs);
  return b.delayMs !== undefined ? Math.min(wall, b.delayMs) : wall;
}

/** The fields of a setBackoff step (and backoff entry) for a delay starting now. */
export function backoffFrom(
  o: Now,
  delayMs: number,
): Pick<BackoffEntry, 'notBeforeMs' | 'delayMs' | 'setMono' | 'bootId'> {
  return { notBeforeMs: o.nowMs + delayMs, delayMs, setMono: o.nowMono, ...(o.bootId ? { bootId: o.bootId } : {}) };
}

/** When an update (or adoption) switched, as a mark on both clocks. */
export function switchMarkOf(x: { switchedAtMs: number; switchedAtMono?: number; bootId?: string }): ClockMark {
  return {
    atMs: x.switchedAtMs,
    ...(x.switchedAtMono !== undefined ? { atMono: x.switchedAtMono } : {}),
    ...(x.bootId !== undefined ? { bootId: x.bootId } : {}),
  };
}
