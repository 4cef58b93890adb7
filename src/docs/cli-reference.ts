import type { Command } from 'commander';

/**
 * `--help` of the program and of each verb, as Markdown. `capture` runs a function and
 * returns what it wrote to the program's configured output.
 */
export function cliReference(program: Command, capture: (print: () => void) => string): string {
  const block = (title: string, text: string) => `### \`${title}\`\n\n\`\`\`text\n${text.trimEnd()}\n\`\`\``;
  return [
    block(
      `${program.name()} --help`,
      capture(() => program.outputHelp()),
    ),
    ...program.commands.map((c) =>
      block(
        `${program.name()} ${c.name()} --help`,
        capture(() => c.outputHelp()),
      ),
    ),
  ].join('\n\n');
}
