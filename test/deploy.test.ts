/**
 * The deployment artefacts stay honest: the systemd unit passes `systemd-analyze verify`; the Kubernetes manifests
 * render with `kubectl kustomize` into hardened, probe-checked workloads whose config validates against the
 * published schema and holds no secret; the Dockerfile builds in two stages and runs as a non-root user with a
 * health check. (Building the image needs a Docker daemon, which this machine does not run.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse, parseAllDocuments } from 'yaml';
import { checkConfigSemantics } from '../src/config/semantics.ts';
import type { RampartConfig } from '../src/config/types.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECRET_REF = /^\$\{(env|file):[^}]+\}$/;

test('the systemd unit passes systemd-analyze verify and is hardened', async () => {
  const unit = `${ROOT}deploy/systemd/rampart.service`;
  const { stderr } = await run('systemd-analyze', ['verify', unit]);
  assert.equal(stderr.trim(), '', stderr);
  const text = readFileSync(unit, 'utf8');
  for (const line of ['DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'ExecReload=/bin/kill -HUP $MAINPID']) {
    assert.ok(text.split('\n').includes(line), `${line} in the unit`);
  }
});

interface Probe {
  httpGet: { path: string; port: string };
}
interface PodSpec {
  securityContext: { runAsNonRoot: boolean };
  automountServiceAccountToken: boolean;
  containers: {
    securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
    readinessProbe: Probe;
    livenessProbe: Probe;
    env: { name: string; valueFrom?: { secretKeyRef?: unknown } }[];
  }[];
  volumes: { name: string; configMap?: { name: string } }[];
}

interface K8sObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

test('the Kubernetes manifests render with kubectl kustomize into a hardened, probed deployment', async () => {
  const { stdout } = await run('kubectl', ['kustomize', `${ROOT}deploy/kubernetes`]);
  const objects = parseAllDocuments(stdout).map((d) => d.toJSON() as K8sObject);
  const kinds = objects.map((o) => o.kind).sort();
  assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'Service']);
  const of = (kind: string) => objects.find((o) => o.kind === kind)!;

  const deployment = of('Deployment') as unknown as { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };
  const pod = deployment.spec.template.spec;
  assert.deepEqual(deployment.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'rampart' });
  assert.equal(deployment.spec.template.metadata.labels['app.kubernetes.io/name'], 'rampart');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.automountServiceAccountToken, false);
  const container = pod.containers[0]!;
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
  assert.deepEqual([container.readinessProbe.httpGet.path, container.readinessProbe.httpGet.port], ['/readyz', 'admin']);
  assert.deepEqual([container.livenessProbe.httpGet.path, container.livenessProbe.httpGet.port], ['/healthz', 'admin']);
  for (const env of container.env) assert.ok(env.valueFrom?.secretKeyRef, `${env.name} comes from a Secret, never a literal`);

  const configMap = of('ConfigMap');
  assert.match(configMap.metadata.name, /^rampart-config-[a-z0-9]+$/, 'a hashed name: a config change rolls the pods');
  const mounted = pod.volumes.find((v) => v.name === 'config');
  assert.equal(mounted?.configMap?.name, configMap.metadata.name);
  assert.equal((of('PodDisruptionBudget').spec as { minAvailable: number }).minAvailable, 1);
  assert.ok((of('HorizontalPodAutoscaler').spec as { minReplicas: number }).minReplicas >= 2);

  // The config it ships: valid against the published schema, no semantic issue, every secret a reference.
  const config = parse(configMap.data!['rampart.yaml']!) as RampartConfig;
  const validate = new Ajv2020({ strict: false, allErrors: true, useDefaults: true }).compile(JSON.parse(readFileSync(`${ROOT}schema/rampart.schema.json`, 'utf8')) as object);
  assert.ok(validate(config), JSON.stringify(validate.errors));
  assert.deepEqual(checkConfigSemantics(config), []);
  assert.equal(config.store?.kind, 'postgres');
  assert.equal(config.counters?.kind, 'redis');
  for (const secret of [config.admin.tokens[0]!.token, config.listen.https!.key]) assert.match(secret, SECRET_REF);
  assert.ok(configMap.data!['openapi.yaml'], 'the spec ships beside the config');
});

test('the Dockerfile builds in two stages and runs as a non-root user with a health check', () => {
  const lines = readFileSync(`${ROOT}Dockerfile`, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.equal(froms.length, 2);
  assert.match(froms[0]!, / AS build$/);
  const final = lines.slice(lines.indexOf(froms[1]!));
  assert.ok(final.some((l) => /^USER [1-9]\d*:[1-9]\d*$/.test(l)), 'a numeric non-root user');
  assert.ok(final.some((l) => l.startsWith('HEALTHCHECK ') && lines.join('\n').includes('/readyz')), 'a health check on /readyz');
  assert.ok(!final.some((l) => /^(ENV|ARG) .*(TOKEN|SECRET|PASSWORD|KEY)=/i.test(l)), 'no secret baked into the image');
  assert.ok(lines.some((l) => l.includes('npm prune --omit=dev')), 'devDependencies are not shipped');
});
