import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  parseTemplate,
  redactedTemplate,
  renderTemplate,
  rpcauthLine,
  templateFactRefs,
  templateSecretRefs,
  TEMPLATE_MAX_BYTES,
  type TemplatePart,
} from '../../src/templates/config-template.js';

// Config-file templates: parsing with positioned problems, rendering, and a redacted form for
// `explain` that holds no secret and nothing derived from one.

const FACTS = {
  hostname: 'node1',
  mdnsName: 'node1.local',
  lanAddress: '192.168.1.20',
  networkSubnet: '10.89.254.0/24',
};
const SECRETS: Record<string, string> = {
  'rpc-password': 'correct horse battery staple',
  'bitcoind.rpc-password': 'provider-pw-123',
};
const lookup = {
  fact: (name: keyof typeof FACTS) => FACTS[name],
  secret: (ref: string) => {
    const v = SECRETS[ref];
    if (v === undefined) throw new Error(`no secret ${ref}`);
    return v;
  },
};

function parts(text: string): TemplatePart[] {
  const r = parseTemplate(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.parts;
}

function problems(text: string) {
  const r = parseTemplate(text);
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

const BITCOIN_CONF = [
  '# bitcoin.conf for {{node.hostname}}',
  'rpcbind=0.0.0.0',
  'rpcallowip={{ node.networkSubnet }}',
  'rpcauth={{rpcauth bitcoin rpc-password}}',
  'rpcauth={{ rpcauth  lnd   bitcoind.rpc-password }}',
  'rpcpassword={{secret rpc-password}}',
  'externalip={{node.lanAddress}}',
  '',
].join('\n');

describe('parseTemplate', () => {
  it('parses text and placeholders, with each placeholder where it is', () => {
    expect(parts('a {{node.hostname}} b\n  {{ secret x.y }}')).toEqual([
      { kind: 'text', text: 'a ' },
      { kind: 'fact', name: 'hostname', line: 1, col: 3 },
      { kind: 'text', text: ' b\n  ' },
      { kind: 'secret', ref: 'x.y', line: 2, col: 3 },
    ]);
  });

  it('takes a template without placeholders, or an empty one, as text', () => {
    expect(parts('plain = 1\n')).toEqual([{ kind: 'text', text: 'plain = 1\n' }]);
    expect(parts('')).toEqual([]);
  });

  it('leaves a lone "}}" or single braces alone', () => {
    expect(renderTemplate(parts('a }} b { c } {x}'), lookup)).toBe('a }} b { c } {x}');
  });

  it('reports an unknown node fact, listing the known ones', () => {
    const [p, ...rest] = problems('x\n  y={{node.ipAddress}}');
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ line: 2, col: 5 });
    expect(p!.message).toContain('unknown node fact "ipAddress"');
    expect(p!.message).toContain('hostname, mdnsName, lanAddress, networkSubnet');
  });

  it('reports an unknown placeholder kind, saying there is no escape', () => {
    const [p] = problems('a\nb\n\tfoo={{ env HOME }}');
    expect(p).toMatchObject({ line: 3, col: 6 });
    expect(p!.message).toContain('unknown placeholder "{{ env HOME }}"');
    expect(p!.message).toContain('no escape');
  });

  it('takes a literal "{{" for a placeholder: there is no escape', () => {
    expect(problems('x = {{}}')[0]).toMatchObject({ line: 1, col: 5 });
    expect(problems('x = {{{{node.hostname}}}}')[0]!.message).toContain('no escape');
  });

  it('reports an unclosed "{{" on its line and goes on with the next', () => {
    const ps = problems('a {{node.hostname\nb {{secret ok}} {{secret Bad}}\n{{');
    expect(ps.map((p) => [p.line, p.col])).toEqual([
      [1, 3],
      [2, 17],
      [3, 1],
    ]);
    expect(ps[0]!.message).toContain('not closed');
    expect(ps[0]!.message).toContain('no escape');
    expect(ps[1]!.message).toContain('malformed secret reference "Bad"');
  });

  it('reports malformed secret references, naming both forms', () => {
    for (const ref of ['a.b.c', '.x', 'x.', 'UPPER', '-x', 'a_b']) {
      const [p] = problems(`{{secret ${ref}}}`);
      expect(p!.message).toContain(`malformed secret reference "${ref}"`);
      expect(p!.message).toContain('<iface>.<name>');
    }
    expect(problems('{{rpcauth u a.b.c}}')[0]!.message).toContain('malformed secret reference');
  });

  it('reports a wrong number of arguments', () => {
    expect(problems('{{secret}}')[0]!.message).toContain('"secret" takes one secret reference');
    expect(problems('{{secret a b}}')[0]!.message).toContain('"secret" takes one secret reference');
    expect(problems('{{rpcauth rpc-password}}')[0]!.message).toContain('"rpcauth" takes a user');
    expect(problems('{{node.hostname extra}}')[0]!.message).toContain('unknown placeholder');
  });

  it('checks the rpcauth user as Bitcoin Core reads it', () => {
    expect(parts('{{rpcauth A-z_0.9 pw}}')).toHaveLength(1);
    expect(parts(`{{rpcauth ${'u'.repeat(64)} pw}}`)).toHaveLength(1);
    for (const user of ['a:b', 'a$b', 'ü', 'u'.repeat(65)]) {
      const [p] = problems(`{{rpcauth ${user} pw}}`);
      expect(p!.message).toContain('rpcauth user');
    }
  });

  it('counts columns in characters, not UTF-16 units', () => {
    expect(problems('😀é{{nope}}')[0]).toMatchObject({ line: 1, col: 3 });
  });

  it('reports a NUL byte once, where it is', () => {
    const ps = problems('ok\nab\0c\0');
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ line: 2, col: 3 });
    expect(ps[0]!.message).toContain('NUL');
  });

  it('refuses a template over 64 KiB, counted in UTF-8 bytes', () => {
    expect(parseTemplate('x'.repeat(TEMPLATE_MAX_BYTES)).ok).toBe(true);
    const [p] = problems('x'.repeat(TEMPLATE_MAX_BYTES + 1));
    expect(p).toMatchObject({ line: 1, col: 1 });
    expect(p!.message).toContain('64 KiB');
    // 'é' is two bytes in UTF-8: half as many characters already overflow.
    expect(parseTemplate('é'.repeat(TEMPLATE_MAX_BYTES / 2 + 1)).ok).toBe(false);
  });

  it('collects every problem, in order', () => {
    const ps = problems('{{node.x}}\n{{secret}}\n{{rpcauth a:b c}}\n{{what}}');
    expect(ps.map((p) => p.line)).toEqual([1, 2, 3, 4]);
  });
});

describe('template refs', () => {
  it('lists the distinct secret refs, rpcauth ones included, sorted', () => {
    const ps = parts(BITCOIN_CONF + '{{secret rpc-password}}{{secret a}}');
    expect(templateSecretRefs(ps)).toEqual(['a', 'bitcoind.rpc-password', 'rpc-password']);
  });

  it('lists the distinct facts used', () => {
    expect(templateFactRefs(parts(BITCOIN_CONF + '{{node.hostname}}'))).toEqual([
      'hostname',
      'lanAddress',
      'networkSubnet',
    ]);
    expect(templateSecretRefs(parts('no placeholders'))).toEqual([]);
  });
});

describe('renderTemplate', () => {
  it('puts in facts, secrets and rpcauth values', () => {
    const out = renderTemplate(parts(BITCOIN_CONF), lookup);
    expect(out).toBe(
      [
        '# bitcoin.conf for node1',
        'rpcbind=0.0.0.0',
        'rpcallowip=10.89.254.0/24',
        `rpcauth=${rpcauthLine('bitcoin', SECRETS['rpc-password']!)}`,
        `rpcauth=${rpcauthLine('lnd', SECRETS['bitcoind.rpc-password']!)}`,
        'rpcpassword=correct horse battery staple',
        'externalip=192.168.1.20',
        '',
      ].join('\n'),
    );
  });

  it('is deterministic: the same inputs give the same bytes', () => {
    const a = renderTemplate(parts(BITCOIN_CONF), lookup);
    const b = renderTemplate(parts(BITCOIN_CONF), lookup);
    expect(a).toBe(b);
  });

  it('changes when a secret or a fact does', () => {
    const base = renderTemplate(parts(BITCOIN_CONF), lookup);
    expect(renderTemplate(parts(BITCOIN_CONF), { ...lookup, secret: (r) => `${lookup.secret(r)}!` })).not.toBe(base);
    expect(renderTemplate(parts(BITCOIN_CONF), { ...lookup, fact: (n) => `${lookup.fact(n)}2` })).not.toBe(base);
  });
});

describe('redactedTemplate', () => {
  it('shows facts and marks secrets and rpcauth values by reference', () => {
    expect(redactedTemplate(parts(BITCOIN_CONF), lookup)).toBe(
      [
        '# bitcoin.conf for node1',
        'rpcbind=0.0.0.0',
        'rpcallowip=10.89.254.0/24',
        'rpcauth=bitcoin:‹salt›$‹hmac of secret rpc-password›',
        'rpcauth=lnd:‹salt›$‹hmac of secret bitcoind.rpc-password›',
        'rpcpassword=‹secret rpc-password›',
        'externalip=192.168.1.20',
        '',
      ].join('\n'),
    );
  });

  it('holds no secret, salt or hmac', () => {
    const redacted = redactedTemplate(parts(BITCOIN_CONF), { fact: lookup.fact });
    for (const [ref, pw] of Object.entries(SECRETS)) {
      expect(redacted).not.toContain(pw);
      for (const user of ['bitcoin', 'lnd']) {
        const [salt, hmac] = rpcauthLine(user, pw).split(':')[1]!.split('$');
        expect(redacted, ref).not.toContain(salt);
        expect(redacted, ref).not.toContain(hmac);
      }
    }
  });
});

describe('rpcauthLine', () => {
  // Computed independently with Python's hmac module, as share/rpcauth/rpcauth.py does it:
  //   salt = hmac.new(pw.encode(), ('archy-quadlet rpcauth salt:' + user).encode(), 'SHA256').hexdigest()[:32]
  //   h = hmac.new(salt.encode('utf-8'), pw.encode('utf-8'), 'SHA256').hexdigest()
  it('matches a vector computed with Python hmac', () => {
    expect(rpcauthLine('bitcoin', 'correct horse battery staple')).toBe(
      'bitcoin:0279f39a369472e95703e7ab68ea3c97$c3d72de2863c291767eee0798f08f6f969fc671794fe9682b699c71bb0a30e01',
    );
    expect(rpcauthLine('lnd', 'pässwörd')).toBe(
      'lnd:153120f15b0122cd7713d9f38b26243d$2be5350551aeced217934a0daffb85b900c7d78b6a7211da266ba658ecb0d744',
    );
  });

  it('has the form bitcoind reads, and its hmac is HMAC-SHA256(salt, password)', () => {
    // Python: hmac.new(b'0123456789abcdef0123456789abcdef', b'hunter2', 'SHA256').hexdigest()
    expect(createHmac('sha256', '0123456789abcdef0123456789abcdef').update('hunter2').digest('hex')).toBe(
      '3920d54ec70f500ee54e1da041d2364a8e57dd252f7a81ed8acd58ad6cf3b6d0',
    );
    for (const [user, pw] of [
      ['bitcoin', 'hunter2'],
      ['u', ''],
      ['a.b-c_d', 'x'.repeat(200)],
    ] as const) {
      const line = rpcauthLine(user, pw);
      const m = /^([A-Za-z0-9_.-]+):([0-9a-f]{32})\$([0-9a-f]{64})$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(m![1]).toBe(user);
      const recomputed = createHmac('sha256', Buffer.from(m![2]!, 'utf8')).update(Buffer.from(pw, 'utf8'));
      expect(m![3]).toBe(recomputed.digest('hex'));
    }
  });

  it('gives a different salt per user and per password', () => {
    const salt = (u: string, p: string) => rpcauthLine(u, p).split(':')[1]!.split('$')[0];
    expect(salt('a', 'pw')).not.toBe(salt('b', 'pw'));
    expect(salt('a', 'pw')).not.toBe(salt('a', 'pw2'));
  });

  it('refuses a user bitcoind would misread', () => {
    expect(() => rpcauthLine('a:b', 'pw')).toThrow(/rpcauth user/);
    expect(() => rpcauthLine('', 'pw')).toThrow(/rpcauth user/);
  });
});
