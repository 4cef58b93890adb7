import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';

// Each malformed manifest (test/fixtures/bad/<case>.yml, app folder 'bad') with every error it must give,
// as line:col: field: message. Reviewed by hand: these are the messages a user reads.
export const BAD_CASES: Record<string, string[]> = {
  '01-yaml-garbage': [
    "4:1: (yaml): Flow map in block collection must be sufficiently indented and end with a }",
    "4:1: (yaml): Flow sequence in block collection must be sufficiently indented and end with a ]",
  ],
  '02-duplicate-key': [
    "3:1: (yaml): Map keys must be unique",
  ],
  '03-wrong-types': [
    "3:7: name: must be a string",
    "4:10: version: must be a string",
    "8:12: containers[0].ports: must be a list",
    "9:15: containers[0].readOnly: must be true or false",
  ],
  '04-unknown-fields': [
    "5:1: colour: unknown field \"colour\"",
    "9:5: containers[0].enviroment: unknown field \"enviroment\" (did you mean \"environment\"?)",
  ],
  '05-missing-required': [
    "1:1: (manifest): missing required field \"id\"",
    "1:1: (manifest): missing required field \"version\"",
    "4:5: containers[0]: missing required field \"name\"",
  ],
  '06-schema-version': [
    "1:16: schemaVersion: must be 1",
  ],
  '07-short-image': [
    "7:12: containers[0].image: must be a fully qualified image reference (registry/path:tag or registry/path@sha256:digest), e.g. docker.io/library/redis:7.4",
  ],
  '08-untagged-image': [
    "7:12: containers[0].image: must be a fully qualified image reference (registry/path:tag or registry/path@sha256:digest), e.g. docker.io/library/redis:7.4",
  ],
  '09-image-and-build': [
    "6:5: containers[0]: has both \"image\" and \"build\": choose one",
    "10:5: containers[1]: needs either \"image\" or \"build\"",
  ],
  '10-id-mismatch': [
    "2:5: id: must equal the app's folder name \"bad\"",
  ],
  '11-bad-id': [
    "2:5: id: must be a DNS label: lower-case letters, digits and inner hyphens, starting with a letter, at most 40 characters",
  ],
  '12-duplicate-container': [
    "8:11: containers[1].name: container name \"web\" is already used by containers[0]",
  ],
  '13-port-clash': [
    "14:9: containers[1].ports[0]: host port 8080/tcp is already published by containers[0].ports[0]",
  ],
  '14-port-range': [
    "9:24: containers[0].ports[0].containerPort: must be >= 1",
    "10:19: containers[0].ports[0].hostPort: must be <= 65535",
    "11:17: containers[0].ports[0].hostIp: must be an IPv4 or IPv6 address",
    "12:19: containers[0].ports[0].protocol: must be one of: tcp, udp",
  ],
  '15-dangling-depends': [
    "9:7: containers[0].dependsOn.database: no container named \"database\" in this app",
  ],
  '16-dependency-cycle': [
    "8:16: containers[0].dependsOn: dependency cycle: web → api → db → web",
  ],
  '17-self-dependency': [
    "8:18: containers[0].dependsOn.web: a container cannot depend on itself",
  ],
  '18-newline-in-env': [
    "9:17: containers[0].environment.GREETING: must be a string, number or boolean without control characters",
  ],
  '19-nul-in-command': [
    "8:27: containers[0].command[2]: must not contain control characters (newline, tab, NUL...): a unit file cannot carry them",
  ],
  '20-bind-traversal': [
    "9:17: containers[0].binds[0].source: must not contain \"..\" (path traversal)",
    "11:17: containers[0].binds[1].source: must not contain \"..\" (path traversal)",
  ],
  '21-bind-colon': [
    "9:17: containers[0].binds[0].source: must be a path without ':', ',' or control characters",
    "12:17: containers[0].binds[1].target: must be an absolute path (starting with /) without ':', ',' or control characters",
  ],
  '22-memory-nonsense': [
    "8:13: containers[0].memory: must be a size in IEC units such as 512Mi or 2Gi (a whole number > 0 followed by Ki, Mi, Gi or Ti)",
    "11:13: containers[1].memory: must be a size in IEC units such as 512Mi or 2Gi (a whole number > 0 followed by Ki, Mi, Gi or Ti)",
    "14:13: containers[2].memory: must be at least 6Mi (Podman's minimum)",
  ],
  '23-health-two-kinds': [
    "9:7: containers[0].healthcheck: has http and tcp: choose one",
    "14:7: containers[1].healthcheck: needs one of \"command\", \"http\" or \"tcp\"",
    "14:17: containers[1].healthcheck.interval: must be at least 1s",
  ],
  '24-bad-durations': [
    "8:18: containers[0].stopTimeout: must be a duration such as 30s, 5m, 1h30m or a number of seconds",
    "9:19: containers[0].startTimeout: must be at most 24h",
    "12:16: containers[0].healthcheck.timeout: must be >= 0",
  ],
  '25-undeclared-secret': [
    "9:20: containers[0].secretEnvironment.DB_PASSWORD: secret \"db-password\" is not declared under secrets",
  ],
  '26-undeclared-volume': [
    "6:3: volumes.data: volume \"data\" is declared but no container mounts it",
    "11:17: containers[0].volumes[0].volume: volume \"dtaa\" is not declared under volumes",
  ],
  '27-mount-clash': [
    "14:17: containers[0].tmpfs[0].target: mount point /data is already used by volumes[0]",
  ],
  '28-host-network-ports': [
    "9:21: containers[0].networkAliases: needs network: private (aliases live on the app's own network)",
    "11:7: containers[0].ports: cannot publish ports with network: host",
  ],
  '29-bad-capability': [
    "9:31: containers[0].capabilities.add[1]: must be a Linux capability name such as NET_BIND_SERVICE",
    "10:13: containers[0].capabilities.drop: only applies with podmanDefaults: true (every capability is dropped by default)",
  ],
  '30-reserved-label': [
    "9:7: containers[0].labels[\"io.archipelago.app\"]: label keys starting with \"io.archipelago.\" are reserved for archy-quadlet",
    "10:7: containers[0].labels[\"bad key\"]: \"bad key\": label keys are letters, digits, '.', '_', '/', '-'",
  ],
  '31-env-name': [
    "11:7: containers[0].environment[\"PATH=/evil\"]: \"PATH=/evil\": environment variable names are letters, digits and '_', not starting with a digit",
    "14:7: containers[0].secretEnvironment.PW: \"PW\" is also set under environment",
  ],
  '32-build-traversal': [
    "8:16: containers[0].build.context: must stay inside the app's folder (no \"..\")",
    "9:22: containers[0].build.containerfile: must be a relative path inside the build context",
    "10:11: containers[0].pull: does not apply to a locally built image",
  ],
  '33-empty-document': [
    "1:1: (manifest): must be a mapping (key: value)",
  ],
  '34-not-a-mapping': [
    "1:1: (manifest): must be a mapping (key: value)",
  ],
  '35-alias-clash': [
    "8:22: containers[0].networkAliases[0]: alias \"api\" is the name of containers[1]",
    "11:22: containers[1].networkAliases[0]: alias \"www\" is already used by containers[0]",
  ],
  '36-hostile-http-health': [
    "9:13: containers[0].healthcheck.http: must be an http:// or https:// URL without spaces, quotes or shell characters",
    "10:17: containers[0].workingDir: must be an absolute path (starting with /) without ':', ',' or control characters",
    "11:11: containers[0].user: must be user, uid, user:group or uid:gid",
  ],
  '37-unused-secret-volume': [
    "6:20: secrets.token.length: must be >= 16",
    "8:3: volumes.cache: volume \"cache\" is declared but no container mounts it",
  ],
  '38-alias-bomb': [
    "1:1: (yaml): Excessive alias count indicates a resource exhaustion attack",
  ],
};

const validator = createManifestValidator();
const fixture = (name: string) => new URL(`../fixtures/bad/${name}.yml`, import.meta.url);

describe('malformed manifests', () => {
  it('has at least 30 cases', () => {
    expect(Object.keys(BAD_CASES).length).toBeGreaterThanOrEqual(30);
  });

  for (const [name, expected] of Object.entries(BAD_CASES)) {
    it(`${name}: reports every error with its position`, () => {
      const text = readFileSync(fixture(name), 'utf8');
      const result = validator.validate(text, `${name}.yml`, 'bad');
      expect(result.ok).toBe(false);
      const got = result.ok ? [] : result.errors.map((e) => formatManifestError(e).slice(`${name}.yml:`.length));
      expect(got).toEqual(expected);
    });
  }
});
