import type { Command } from 'commander';

// Shell completion, generated from the commander definition itself: a verb or option added
// to the CLI is completed without anyone editing a script.

export interface CompletionSpec {
  name: string;
  verbs: Array<{
    name: string;
    /** Long options, e.g. --wait. */
    flags: string[];
    /** Options followed by a directory. */
    dirFlags: string[];
    /** Whether its arguments are app ids. */
    takesApps: boolean;
  }>;
  /** Where app ids are listed when $ARCHY_QUADLET_APPS is not set. */
  bundledAppsDir: string;
}

/** Pure: reads the verbs, their options and arguments from a commander program. */
export function completionSpec(program: Command, bundledAppsDir: string): CompletionSpec {
  return {
    name: program.name(),
    bundledAppsDir,
    verbs: program.commands
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => ({
        name: c.name(),
        flags: [...c.options.map((o) => o.long).filter((l): l is string => Boolean(l)), '--help'],
        dirFlags: c.options.filter((o) => o.long && /<dir>/.test(o.flags)).map((o) => o.long!),
        takesApps: c.registeredArguments.some((a) => /^apps?$/.test(a.name())),
      })),
  };
}

const shellWord = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
const fn = (name: string) => `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;

/** Pure: a bash completion script (`complete -F`). */
export function bashCompletion(spec: CompletionSpec): string {
  const f = fn(spec.name);
  const cases = spec.verbs
    .map((v) => {
      const dirs = v.dirFlags.length
        ? `\n      case "$prev" in ${v.dirFlags.join('|')}) COMPREPLY=($(compgen -d -- "$cur")); return;; esac`
        : '';
      const apps = v.takesApps
        ? `\n      [[ $cur != -* ]] && { COMPREPLY=($(compgen -W "$(${f}_apps)" -- "$cur")); return; }`
        : '';
      const words = shellWord(v.flags.join(' '));
      return `    ${v.name})${dirs}${apps}\n      COMPREPLY=($(compgen -W ${words} -- "$cur"));;`;
    })
    .join('\n');
  const saveHint = `# or save it under ~/.local/share/bash-completion/completions/${spec.name}`;
  const verbWords = shellWord([...spec.verbs.map((v) => v.name), '--help', '--version'].join(' '));
  return `# bash completion for ${spec.name}, generated from its command definitions:
#   source <(${spec.name} completion bash)     ${saveHint}
${f}_apps() {
  local dir=\${ARCHY_QUADLET_APPS:-${shellWord(spec.bundledAppsDir)}} m
  for m in "$dir"/*/manifest.yml; do [[ -e $m ]] && { m=\${m%/manifest.yml}; printf '%s\\n' "\${m##*/}"; }; done
}
${f}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} verb="" i
  for ((i = 1; i < COMP_CWORD; i++)); do [[ \${COMP_WORDS[i]} != -* ]] && { verb=\${COMP_WORDS[i]}; break; }; done
  case "$verb" in
    "") COMPREPLY=($(compgen -W ${verbWords} -- "$cur"));;
${cases}
  esac
}
complete -F ${f} ${spec.name}
`;
}

/** Pure: zsh, through its bash completion compatibility (cheap, and the same behaviour). */
export function zshCompletion(spec: CompletionSpec): string {
  return `# zsh completion for ${spec.name}:  source <(${spec.name} completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(spec)
  .split('\n')
  .filter((l) => !l.startsWith('# bash completion') && !l.startsWith('#   source'))
  .join('\n')}`;
}
