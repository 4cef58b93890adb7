// Escaping of values for Quadlet source files (tentative: verified against the generator
// by test/render/escape.integration.test.ts).

/** `%` starts a systemd specifier and `$` an environment expansion in the generated ExecStart. */
function protectSpecifiers(s: string): string {
  return s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
}

/** A value Quadlet takes whole (Image=, WorkingDir=, ...). The schema keeps these free of edge whitespace and newlines. */
export function rawValue(s: string): string {
  return protectSpecifiers(s);
}

/** Arguments for keys Quadlet splits into words (Exec=, Environment=, Label=, PodmanArgs=). */
export function words(args: readonly string[]): string {
  return args.map((a) => `"${protectSpecifiers(a.replace(/\\/g, '\\\\').replace(/"/g, '\\"'))}"`).join(' ');
}

/** A JSON array given whole to a raw key (HealthCmd=, Entrypoint=), which Podman parses as exec form. */
export function jsonArrayValue(args: readonly string[]): string {
  return rawValue(JSON.stringify(args));
}
