/** Stable exit codes, documented in the README. */
export const EXIT = {
  ok: 0,
  /**
   * The request cannot be done as asked: a manifest (or the units rendered from it) is
   * invalid (the other apps were still handled), or the app named is not an app id, not in
   * the catalog, or not installed; or it is refused for the apps linked to it (a provider
   * that others need, a required interface nobody provides, a second provider).
   */
  invalid: 1,
  /** The command line is wrong: unknown verb or flag, missing argument. */
  usage: 2,
  /** The environment failed us: a file could not be written, a program could not run. */
  failure: 3,
  /** --wait gave up: the app did not reach what was asked within --timeout. */
  timeout: 4,
  /** doctor: the worst check is a warning. */
  doctorWarn: 5,
  /** doctor: a check failed. */
  doctorFail: 6,
} as const;
