// The manifest reference in the README, generated from the schema (pure).

type Schema = Record<string, unknown>;

interface Row {
  field: string;
  type: string;
  required: boolean;
  description: string;
}

export function schemaReference(root: Schema): string {
  const defs = (root.$defs ?? {}) as Record<string, Schema>;
  const resolve = (s: Schema): Schema => {
    const ref = s.$ref as string | undefined;
    if (!ref) return s;
    const target = resolve(defs[ref.replace('#/$defs/', '')] ?? {});
    return { ...target, ...s, $ref: undefined, description: s.description ?? target.description };
  };
  const rows: Row[] = [];
  const walk = (schema: Schema, path: string, required: boolean) => {
    const s = resolve(schema);
    if (path !== '')
      rows.push({ field: path, type: typeOf(s, resolve), required, description: String(s.description ?? '') });
    const props = s.properties as Record<string, Schema> | undefined;
    const req = new Set((s.required as string[] | undefined) ?? []);
    if (props) for (const [k, v] of Object.entries(props)) walk(v, path === '' ? k : `${path}.${k}`, req.has(k));
    const extra = s.additionalProperties;
    if (extra && typeof extra === 'object' && resolve(extra as Schema).properties)
      walk(extra as Schema, `${path}.<name>`, false);
    const items = s.items as Schema | undefined;
    if (items && resolve(items).properties) {
      const itemSchema = resolve(items);
      const itemReq = new Set((itemSchema.required as string[] | undefined) ?? []);
      for (const [k, v] of Object.entries(itemSchema.properties as Record<string, Schema>))
        walk(v, `${path}[].${k}`, itemReq.has(k));
    }
  };
  walk(root, '', true);
  const esc = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [
    '| field | type | required | description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.field}\` | ${esc(r.type)} | ${r.required ? 'yes' : ''} | ${esc(r.description)} |`),
  ].join('\n');
}

function typeOf(s: Schema, resolve: (s: Schema) => Schema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (Array.isArray(s.enum)) return s.enum.map((e) => `\`${String(e)}\``).join(' | ');
  if (Array.isArray(s.anyOf))
    return [...new Set((s.anyOf as Schema[]).map((a) => typeOf(resolve(a), resolve)))].join(' or ');
  const t = s.type;
  const base = Array.isArray(t) ? t.join(' or ') : String(t ?? 'any');
  if (t === 'array' && s.items) return `list of ${typeOf(resolve(s.items as Schema), resolve)}`;
  if (t === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) {
    const v = resolve(s.additionalProperties as Schema);
    return v.properties ? 'map of name → object' : `map of name → ${typeOf(v, resolve)}`;
  }
  return base;
}

/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` (pure). */
export function replaceSection(doc: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`no section ${name} in the document`);
  return `${doc.slice(0, i + start.length)}\n${content}\n${doc.slice(j)}`;
}
