/**
 * `npm run waf:score`: replays the public attack lists in ../shared/waf/ (GoTestWAF test cases, payloadbox SQLi and
 * XSS lists; see its README) in five placements — query parameter, path segment, JSON string value, form field,
 * declared header — through a real gateway on loopback in front of a real upstream, at paranoia 1 and 2, plus the
 * project's benign free text (test/fixtures/benign-text.ts) in the same placements. Prints detection per family and
 * per placement, and the false-positive rate, as Markdown (docs/waf.md records a run).
 *
 * A payload counts as detected when the upstream never saw it; "WAF" columns count only 403 injection_detected
 * (other stages — path normalisation, validation — refuse some encodings first). Deterministic: at most
 * `--max-per-file` payloads per list (default 150), every k-th line.
 *
 * `--peer` replays the same requests through nginx + ModSecurity + the OWASP CRS (scripts/waf-peer.ts) and prints
 * both side by side. Usage: node scripts/waf-score.ts [--max-per-file N] [--waf-dir ../shared/waf] [--peer] [--show-fp]
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startGateway } from '../test/helpers/gateway.ts';
import { startUpstream } from '../test/helpers/upstream.ts';
import { BENIGN_FREE_TEXT } from '../test/fixtures/benign-text.ts';
import { startPeer } from './waf-peer.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] ? args[at + 1]! : fallback;
};
const MAX_PER_FILE = Number(option('--max-per-file', '150'));
const WAF_DIR = join(ROOT, option('--waf-dir', '../shared/waf'));
const CONCURRENCY = 16;
const PARANOIA = [1, 2] as const;
const PLACEMENTS = ['query', 'path', 'json', 'form', 'header'] as const;
type Placement = (typeof PLACEMENTS)[number];

/** GoTestWAF `type` → Rampart family (or a group outside the injection families, reported apart). */
const TYPE_FAMILY: Record<string, string> = {
  'crlf injection': 'crlf', 'mail injection': 'crlf', 'ldap injection': 'ldap', 'nosql injection': 'nosql', 'path traversal': 'traversal', lfi: 'traversal',
  'community-lfi-multipart': 'traversal', rce: 'cmd', shell: 'cmd', 'ss injection': 'cmd', 'rawrequest test': 'cmd', '8kb rce': 'cmd', '16kb rce': 'cmd',
  'sql injection': 'sqli', '8kb sql injection': 'sqli', '16kb sql injection': 'sqli', 'sst injection': 'ssti', xxe: 'xxe', xss: 'xss', '8kb xss': 'xss', '16kb xss': 'xss',
  rest: 'api-mixed', soap: 'api-mixed', grpc: 'api-mixed', 'rest non-crud': 'api-mixed', graphql: 'out-of-scope:graphql-introspection', useragent: 'out-of-scope:scanner-user-agents',
};

interface Payload {
  readonly family: string;
  readonly source: string;
  readonly text: string;
}

function sample<T>(items: readonly T[]): T[] {
  if (items.length <= MAX_PER_FILE) return [...items];
  const step = items.length / MAX_PER_FILE;
  return Array.from({ length: MAX_PER_FILE }, (_, i) => items[Math.floor(i * step)]!);
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else out.push(path);
  }
  return out;
}

function loadPayloads(): Payload[] {
  if (!existsSync(WAF_DIR)) throw new Error(`${WAF_DIR} not found: the attack lists live in ../shared/waf beside the checkout`);
  const payloads: Payload[] = [];
  for (const path of files(WAF_DIR)) {
    const source = relative(WAF_DIR, path);
    if (path.endsWith('.yml')) {
      // GoTestWAF's YAML uses `\'` inside double quotes, which Go's parser accepts and YAML 1.2 does not.
      const doc = parse(readFileSync(path, 'utf8').replaceAll("\\'", "'")) as { payload?: unknown[]; type?: string };
      const family = TYPE_FAMILY[String(doc.type).toLowerCase()] ?? `unmapped:${doc.type}`;
      for (const text of sample((doc.payload ?? []).map(String))) payloads.push({ family, source, text });
    } else if (path.endsWith('.txt') && path.includes('Intruder')) {
      const family = path.includes('payloadbox-xss') ? 'xss' : path.includes('/NoSQL/') ? 'nosql' : 'sqli';
      const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
      for (const text of sample(lines)) payloads.push({ family, source, text });
    }
  }
  return payloads;
}

const SPEC = `openapi: 3.1.0
info: { title: score, version: 1.0.0 }
paths:
  /q:
    get:
      operationId: query
      parameters: [{ name: v, in: query, required: true, schema: { type: string } }]
      responses: { '200': { description: ok } }
  /p/{v}:
    get:
      operationId: path
      parameters: [{ name: v, in: path, required: true, schema: { type: string } }]
      responses: { '200': { description: ok } }
  /j:
    post:
      operationId: json
      requestBody: { required: true, content: { application/json: { schema: { type: object, properties: { v: { type: string } } } } } }
      responses: { '200': { description: ok } }
  /f:
    post:
      operationId: form
      requestBody: { required: true, content: { application/x-www-form-urlencoded: { schema: { type: object, properties: { v: { type: string } } } } } }
      responses: { '200': { description: ok } }
  /h:
    get:
      operationId: header
      parameters: [{ name: X-Value, in: header, required: true, schema: { type: string } }]
      responses: { '200': { description: ok } }
`;

type Outcome = 'passed' | 'waf' | 'other';
const otherStatuses = new Map<string, number>();

/** At most one word, with punctuation around it: `select`, `' or`, `%29`, `)`. */
function isFragment(text: string): boolean {
  return /^\W*\w*\W*$/u.test(text.trim());
}

function isHeaderSafe(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || c === 0x7f || (c < 0x20 && c !== 9)) return false;
  }
  return text.trim() === text && text !== '';
}

async function main(): Promise<void> {
  const payloads = loadPayloads();
  const upstream = await startUpstream();
  let seen = 0;
  upstream.handler = (_req, res) => {
    seen++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  };
  const gw = await startGateway(
    {
      logging: { level: 'error' },
      // Thousands of attacks from one address would (rightly) get it blocked by incident response: score the WAF alone.
      monitor: { enabled: false },
      upstreams: { main: { url: upstream.url } },
      apis: PARANOIA.map((p) => ({
        name: `p${p}`,
        spec: './score.yaml',
        upstream: 'main',
        base_path: `/p${p}`,
        response: { mode: 'off' },
        validation: { max_string_length: 1_000_000 },
        waf: { paranoia: p },
      })),
    },
    { files: { 'score.yaml': SPEC } },
  );
  const started = performance.now();
  /** Sends one payload; `peer` counts any 403 as the peer WAF's (it has no problem types). */
  const send = async (root: string, paranoia: number, placement: Placement, text: string, peer = false): Promise<Outcome> => {
    const base = `${root}/p${paranoia}`;
    let res: Response;
    const before = seen;
    try {
      const signal = AbortSignal.timeout(10_000);
      if (placement === 'query') res = await fetch(`${base}/q?v=${encodeURIComponent(text)}`, { signal });
      else if (placement === 'path') res = await fetch(`${base}/p/${encodeURIComponent(text)}`, { signal });
      else if (placement === 'json') res = await fetch(`${base}/j`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ v: text }), signal });
      else if (placement === 'form') res = await fetch(`${base}/f`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `v=${encodeURIComponent(text)}`, signal });
      else res = await fetch(`${base}/h`, { headers: { 'x-value': isHeaderSafe(text) ? text : encodeURIComponent(text) }, signal });
    } catch {
      return 'other';
    }
    const body = await res.text();
    if (res.status === 200 && seen > before) return 'passed';
    if (res.status === 403 && (peer || body.includes('/problems/injection_detected'))) return 'waf';
    if (peer) return 'other';
    const type = /problems\/([a-z_]+)/.exec(body)?.[1] ?? 'none';
    otherStatuses.set(`${res.status} ${type}`, (otherStatuses.get(`${res.status} ${type}`) ?? 0) + 1);
    return 'other';
  };

  type Job = { readonly kind: 'attack' | 'benign'; readonly family: string; readonly paranoia: number; readonly placement: Placement; readonly text: string };
  const jobs: Job[] = [];
  for (const paranoia of PARANOIA) {
    for (const placement of PLACEMENTS) {
      for (const p of payloads) jobs.push({ kind: 'attack', family: p.family, paranoia, placement, text: p.text });
      for (const text of BENIGN_FREE_TEXT) {
        // Multi-line text cannot be a header value; no client sends it there.
        if (placement === 'header' && !isHeaderSafe(text)) continue;
        jobs.push({ kind: 'benign', family: 'benign', paranoia, placement, text });
      }
    }
  }
  const results: (Job & { outcome: Outcome })[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        results.push({ ...job, outcome: await send(gw.url, job.paranoia, job.placement, job.text) });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await gw.close();

  // The same requests through the peer (nginx + ModSecurity + CRS), when asked for.
  let peerResults: (Job & { outcome: Outcome })[] | undefined;
  let peerSeconds = 0;
  let peerVersion = '';
  if (args.includes('--peer')) {
    const peer = await startPeer(upstream.url, PARANOIA);
    peerVersion = peer.version;
    const peerStarted = performance.now();
    peerResults = [];
    let at = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (at < jobs.length) {
          const job = jobs[at++]!;
          peerResults!.push({ ...job, outcome: await send(peer.url(job.paranoia), job.paranoia, job.placement, job.text, true) });
        }
      }),
    );
    peerSeconds = (performance.now() - peerStarted) / 1000;
    await peer.close();
  }
  await upstream.close();

  const pct = (n: number, d: number) => (d === 0 ? '-' : `${((100 * n) / d).toFixed(1)} %`);
  const out: string[] = [];
  out.push(`${payloads.length} attack payloads (at most ${MAX_PER_FILE} per list) and ${BENIGN_FREE_TEXT.length} benign texts × ${PLACEMENTS.length} placements × paranoia ${PARANOIA.join(', ')}: ${results.length} requests in ${seconds.toFixed(1)} s.`, '');
  out.push('### Detection per family (all placements)', '', '| family | payloads | p1 blocked | p1 by WAF | p2 blocked | p2 by WAF |', '|---|---|---|---|---|---|');
  const families = [...new Set(payloads.map((p) => p.family))].sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')) || a.localeCompare(b));
  // The payloadbox lists hold lone words and punctuation (`select`, `or`, `0`, `)`) that a scanner probes with; no
  // detector can refuse them without refusing English. Shown apart so that the headline rate hides nothing.
  const rows: { label: string; keep: (x: { family: string; text: string }) => boolean }[] = [];
  for (const family of families) {
    rows.push({ label: family, keep: (x) => x.family === family });
    if (family === 'sqli' || family === 'xss') rows.push({ label: `${family} without one-word fragments`, keep: (x) => x.family === family && !isFragment(x.text) });
  }
  for (const { label, keep } of rows) {
    const row = [label, String(payloads.filter(keep).length)];
    for (const paranoia of PARANOIA) {
      const r = results.filter((x) => x.kind === 'attack' && keep(x) && x.paranoia === paranoia);
      row.push(pct(r.filter((x) => x.outcome !== 'passed').length, r.length), pct(r.filter((x) => x.outcome === 'waf').length, r.length));
    }
    out.push(`| ${row.join(' | ')} |`);
  }
  const inScope = (x: Job) => !x.family.includes(':');
  out.push('', '### Detection per placement (injection families, out-of-scope groups excluded)', '', '| placement | p1 blocked | p1 by WAF | p2 blocked | p2 by WAF |', '|---|---|---|---|---|');
  for (const placement of PLACEMENTS) {
    const row: string[] = [placement];
    for (const paranoia of PARANOIA) {
      const r = results.filter((x) => x.kind === 'attack' && inScope(x) && x.placement === placement && x.paranoia === paranoia);
      row.push(pct(r.filter((x) => x.outcome !== 'passed').length, r.length), pct(r.filter((x) => x.outcome === 'waf').length, r.length));
    }
    out.push(`| ${row.join(' | ')} |`);
  }
  out.push('', '### False positives on benign free text', '', '| placement | p1 refused by WAF | p1 refused (any stage) | p2 refused by WAF | p2 refused (any stage) |', '|---|---|---|---|---|');
  for (const placement of [...PLACEMENTS, 'all'] as const) {
    const row: string[] = [placement];
    for (const paranoia of PARANOIA) {
      const r = results.filter((x) => x.kind === 'benign' && x.paranoia === paranoia && (placement === 'all' || x.placement === placement));
      row.push(pct(r.filter((x) => x.outcome === 'waf').length, r.length), pct(r.filter((x) => x.outcome !== 'passed').length, r.length));
    }
    out.push(`| ${row.join(' | ')} |`);
  }
  if (args.includes('--show-fp')) {
    out.push('', 'Benign texts refused by the WAF:');
    for (const r of results) if (r.kind === 'benign' && r.outcome === 'waf') out.push(`- p${r.paranoia} ${r.placement}: ${JSON.stringify(r.text)}`);
  }
  out.push('', `Refused by other stages: ${[...otherStatuses].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`);
  if (peerResults) {
    out.push('', `### Rampart beside the peer (${peerVersion})`, '', `Same requests, same upstream, same client; wall time Rampart ${seconds.toFixed(1)} s, peer ${peerSeconds.toFixed(1)} s. "Refused" counts every refusal of the request (the peer's 403s; Rampart's 403 injection_detected and earlier stages' 4xx).`, '');
    out.push('| | Rampart p1 | peer p1 | Rampart p2 | peer p2 |', '|---|---|---|---|---|');
    const rate = (list: (Job & { outcome: Outcome })[], paranoia: number, keep: (x: Job) => boolean, refused: (o: Outcome) => boolean) => {
      const r = list.filter((x) => x.paranoia === paranoia && keep(x));
      return pct(r.filter((x) => refused(x.outcome)).length, r.length);
    };
    const line = (label: string, keep: (x: Job) => boolean, refused: (o: Outcome) => boolean) => {
      const cells = PARANOIA.flatMap((p) => [rate(results, p, keep, refused), rate(peerResults!, p, keep, refused)]);
      out.push(`| ${label} | ${cells.join(' | ')} |`);
    };
    for (const { label, keep } of rows) line(`detection: ${label}`, (x) => x.kind === 'attack' && keep(x), (o) => o !== 'passed');
    line('detection: all injection families', (x) => x.kind === 'attack' && inScope(x), (o) => o !== 'passed');
    line('false positives: benign free text (any refusal)', (x) => x.kind === 'benign', (o) => o !== 'passed');
    line('false positives: benign free text (by the WAF)', (x) => x.kind === 'benign', (o) => o === 'waf');
    if (args.includes('--show-fp')) {
      out.push('', 'Benign texts the peer refused:');
      for (const r of peerResults) if (r.kind === 'benign' && r.outcome !== 'passed') out.push(`- p${r.paranoia} ${r.placement}: ${JSON.stringify(r.text)}`);
    }
  }
  console.log(out.join('\n'));
}

await main();
