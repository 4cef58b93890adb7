import { createHmac } from 'node:crypto';
import { isNodeFact, NODE_FACTS, type NodeFactName } from '../graph/node-facts.js';
import { NAME_REF_PATTERN } from '../names.js';

/**
 * Config-file templates: a text file in an app's folder (bitcoin.conf.tmpl) rendered at apply
 * time into the file a container reads. Placeholders, with optional spaces inside the braces:
 *
 *   {{node.<fact>}}             a node fact (NODE_FACTS)
 *   {{secret <ref>}}            a secret's value: `<name>` (the app's own) or `<iface>.<name>` (a provider's)
 *   {{rpcauth <user> <ref>}}    Bitcoin Core's rpcauth value for that user and secret
 *
 * There is no escape: every `{{` must start a valid placeholder, so that a typo is an error at
 * validation rather than a literal `{{` a daemon chokes on at start. Pure: parsing and rendering
 * are separate so that validation, `explain` and apply share one parse.
 */

/** Larger than any config file we ship by far; a bound keeps a stray binary out of the parser. */
export const TEMPLATE_MAX_BYTES = 64 * 1024;

/** Users Bitcoin Core accepts in rpcauth; no `:` (it separates the user) and no whitespace (it ends the value). */
const RPCAUTH_USER = /^[A-Za-z0-9_.-]{1,64}$/;

export type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'fact'; name: NodeFactName; line: number; col: number }
  | { kind: 'secret'; ref: string; line: number; col: number }
  | { kind: 'rpcauth'; user: string; ref: string; line: number; col: number };

/** 1-based; `col` counts characters (code points), as an editor does. */
export interface TemplateProblem {
  line: number;
  col: number;
  message: string;
}

export type ParsedTemplate = { ok: true; parts: TemplatePart[] } | { ok: false; problems: TemplateProblem[] };

export interface TemplateLookup {
  fact(name: NodeFactName): string;
  secret(ref: string): string;
}

const FORMS = '{{node.<fact>}}, {{secret <ref>}} or {{rpcauth <user> <ref>}}';
const NO_ESCAPE = 'every "{{" starts a placeholder; there is no escape for a literal "{{"';
const REF_FORM = "<name> for the app's own secret or <iface>.<name> for a provider's";

type Placeholder = Exclude<TemplatePart, { kind: 'text' }>;
type Where = { line: number; col: number };

export function parseTemplate(text: string): ParsedTemplate {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > TEMPLATE_MAX_BYTES) {
    return {
      ok: false,
      problems: [
        { line: 1, col: 1, message: `the template is ${bytes} bytes; at most ${TEMPLATE_MAX_BYTES} (64 KiB)` },
      ],
    };
  }
  const locate = locator(text);
  const problems: TemplateProblem[] = [];
  const nul = text.indexOf('\0');
  // One report is enough: a NUL means the file is not text at all.
  if (nul >= 0) problems.push({ ...locate(nul), message: 'contains a NUL byte (a template is a text file)' });

  const parts: TemplatePart[] = [];
  const addText = (s: string) => {
    if (s === '') return;
    const last = parts.at(-1);
    if (last?.kind === 'text') last.text += s;
    else parts.push({ kind: 'text', text: s });
  };
  let pos = 0;
  for (let open = text.indexOf('{{', pos); open >= 0; open = text.indexOf('{{', pos)) {
    addText(text.slice(pos, open));
    const where = locate(open);
    const close = text.indexOf('}}', open + 2);
    const eol = text.indexOf('\n', open + 2);
    // A placeholder stays on its line: otherwise one missing `}}` would swallow the file up
    // to the next placeholder's and report a puzzling error there.
    if (close < 0 || (eol >= 0 && eol < close)) {
      problems.push({ ...where, message: `"{{" is not closed by "}}" on its line (${NO_ESCAPE})` });
      pos = eol < 0 ? text.length : eol;
      continue;
    }
    const r = placeholder(text.slice(open + 2, close), where);
    if ('message' in r) problems.push({ ...where, message: r.message });
    else parts.push(r);
    pos = close + 2;
  }
  addText(text.slice(pos));
  return problems.length > 0 ? { ok: false, problems } : { ok: true, parts };
}

function placeholder(inner: string, where: Where): Placeholder | { message: string } {
  const words = inner
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  const [head, ...args] = words;
  if (head?.startsWith('node.') && args.length === 0) {
    const name = head.slice('node.'.length);
    if (!isNodeFact(name))
      return { message: `unknown node fact "${name}" (known: ${Object.keys(NODE_FACTS).join(', ')})` };
    return { kind: 'fact', name, ...where };
  }
  if (head === 'secret') {
    if (args.length !== 1) return { message: `"secret" takes one secret reference: {{secret <ref>}}` };
    const ref = args[0]!;
    return refProblem(ref) ?? { kind: 'secret', ref, ...where };
  }
  if (head === 'rpcauth') {
    if (args.length !== 2)
      return { message: `"rpcauth" takes a user and a secret reference: {{rpcauth <user> <ref>}}` };
    const [user, ref] = args as [string, string];
    if (!RPCAUTH_USER.test(user))
      return { message: `rpcauth user "${clip(user)}" must be 1 to 64 of A-Z a-z 0-9 _ . -` };
    return refProblem(ref) ?? { kind: 'rpcauth', user, ref, ...where };
  }
  return { message: `unknown placeholder "{{${clip(inner)}}}": expected ${FORMS} (${NO_ESCAPE})` };
}

function refProblem(ref: string): { message: string } | undefined {
  return NAME_REF_PATTERN.test(ref) ? undefined : { message: `malformed secret reference "${clip(ref)}": ${REF_FORM}` };
}

/** Problems quote the template, which may be long or binary junk: keep messages one short line. */
function clip(s: string): string {
  const chars = [...s];
  return chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : s;
}

/** Index → line/col, by binary search over line starts: a template may hold many placeholders. */
function locator(text: string): (index: number) => Where {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (index) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: [...text.slice(starts[lo], index)].length + 1 };
  };
}

/** The distinct secret references a template uses, `{{secret}}` and `{{rpcauth}}` alike, sorted. */
export function templateSecretRefs(parts: TemplatePart[]): string[] {
  const refs = new Set<string>();
  for (const p of parts) if (p.kind === 'secret' || p.kind === 'rpcauth') refs.add(p.ref);
  return [...refs].sort();
}

/** The distinct node facts a template uses, sorted. */
export function templateFactRefs(parts: TemplatePart[]): NodeFactName[] {
  const names = new Set<NodeFactName>();
  for (const p of parts) if (p.kind === 'fact') names.add(p.name);
  return [...names].sort();
}

export function renderTemplate(parts: TemplatePart[], lookup: TemplateLookup): string {
  return joinParts(parts, {
    fact: (p) => lookup.fact(p.name),
    secret: (p) => lookup.secret(p.ref),
    rpcauth: (p) => rpcauthLine(p.user, lookup.secret(p.ref)),
  });
}

type PartOf<K extends TemplatePart['kind']> = Extract<TemplatePart, { kind: K }>;

/** The parts as text: literal text as it is, each placeholder as `put` makes it. */
function joinParts(
  parts: TemplatePart[],
  put: {
    fact: (p: PartOf<'fact'>) => string;
    secret: (p: PartOf<'secret'>) => string;
    rpcauth: (p: PartOf<'rpcauth'>) => string;
  },
): string {
  let out = '';
  for (const p of parts) {
    if (p.kind === 'text') out += p.text;
    else if (p.kind === 'fact') out += put.fact(p);
    else if (p.kind === 'secret') out += put.secret(p);
    else out += put.rpcauth(p);
  }
  return out;
}

/**
 * The rendered file as `explain` may show it: facts put in, and in place of every secret and
 * everything derived from one (the rpcauth salt and hmac) a marker naming the reference.
 * Takes no secret lookup, so it cannot leak one.
 */
export function redactedTemplate(parts: TemplatePart[], facts: Pick<TemplateLookup, 'fact'>): string {
  return joinParts(parts, {
    fact: (p) => facts.fact(p.name),
    secret: (p) => `‹secret ${p.ref}›`,
    rpcauth: (p) => `${p.user}:‹salt›$‹hmac of secret ${p.ref}›`,
  });
}

/**
 * Bitcoin Core's rpcauth value `<user>:<salt>$<hmac>`, computed as share/rpcauth/rpcauth.py does:
 * hmac = hex(HMAC-SHA256(key = the salt's hex string, msg = password)). rpcauth.py draws a random
 * salt; ours is derived from the password and user instead, so that rendering the same inputs
 * gives the same bytes: a changed config file restarts its container. The salt still differs per
 * user and password, and reveals nothing of the password without breaking HMAC-SHA256.
 */
export function rpcauthLine(user: string, password: string): string {
  // Parsing has checked the user; a bad one here would write a line bitcoind misreads.
  if (!RPCAUTH_USER.test(user)) throw new Error(`not an rpcauth user: ${JSON.stringify(user)}`);
  const salt = createHmac('sha256', password).update(`archy-quadlet rpcauth salt:${user}`).digest('hex').slice(0, 32);
  const hmac = createHmac('sha256', salt).update(password).digest('hex');
  return `${user}:${salt}$${hmac}`;
}
