/**
 * Adversarial tests for issue 16 (message signatures, encryption at rest, response digests). Each test asserts the
 * secure behaviour: it fails while the weakness it names exists. Real gateways on loopback, real HTTP; the
 * database attacks use the real store classes on SQLite files.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { createSigner, httpbis } from 'http-message-signatures';
import { parse, stringify } from 'yaml';
import { openDb } from '../../src/audit/db.ts';
import { IncidentStore } from '../../src/monitor/incidents.ts';
import { Keyring } from '../../src/store/encryption/keyring.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { eventually, ITEMS_SPEC, itemsConfig, rawExchange, rawStatus, send } from '../helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { PARTNER_ORDERS_SPEC } from '../helpers/signature-spec.ts';

const digestOf = (body: Buffer | string) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
const readyz = async (gw: TestGateway) => assert.equal((await fetch(`${gw.adminUrl}/readyz`, { signal: AbortSignal.timeout(3000) })).status, 200, 'admin /readyz still answers 200');
/** The header block of a raw HTTP response, lower-cased names. */
function rawHeaders(text: string): Record<string, string> {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const out: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    out[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

/* ------------------------------------------------------------------------------------------- response digests */

describe('issue 16: response digests (RFC 9530) under attack', () => {
  const FULL = Buffer.from('y'.repeat(100_000));
  let up: TestUpstream;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    up = await startUpstream();
    up.handler = (req, res) => {
      const url = req.url ?? '/';
      if (url.includes('notmod')) {
        res.writeHead(304, { etag: '"v1"', 'repr-digest': digestOf(FULL) });
        res.end();
      } else if (url.includes('range')) {
        res.writeHead(206, { 'content-type': 'application/octet-stream', 'content-range': `bytes 0-9/${FULL.length}`, 'repr-digest': digestOf(FULL) });
        res.end(FULL.subarray(0, 10));
      } else {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': FULL.length });
        let sent = 0;
        const next = () => {
          if (sent >= FULL.length) return res.end();
          res.write(FULL.subarray(sent, sent + 16_384));
          sent += 16_384;
          setImmediate(next);
        };
        next();
      }
    };
    gw = await startGateway(
      itemsConfig(up.url, {
        monitor: { enabled: false },
        apis: [
          { name: 'raw', passthrough: true, upstream: 'main', base_path: '/raw', waf: { enabled: false } },
          { name: 'buf', passthrough: true, upstream: 'main', base_path: '/buf' },
        ],
      }),
      { files: { 'items.yaml': ITEMS_SPEC } },
    );
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  test('HTTP/1.0 client with TE: trailers + Want-Content-Digest on a streamed body gets the body, not a 500', async () => {
    // Node refuses a Trailer header on a response it cannot chunk (ERR_HTTP_TRAILER_INVALID): any client can turn
    // any streamed route into a 500 (5xx alerts, error-spike incidents, upstream work wasted).
    const r = await rawExchange(port, 'GET /raw/stream HTTP/1.0\r\nHost: x\r\nTE: trailers\r\nWant-Content-Digest: sha-256=1\r\n\r\n', 5000);
    assert.equal(rawStatus(r.text), 200, r.text.slice(0, 300));
    const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
    assert.equal(body.length, FULL.length, 'the whole body');
    await readyz(gw);
  });

  test('a 304 keeps the Repr-Digest of the selected representation, never the digest of its empty content', async () => {
    const r = await rawExchange(port, 'GET /buf/notmod HTTP/1.1\r\nHost: x\r\nIf-None-Match: "v1"\r\nWant-Repr-Digest: sha-256=1\r\nConnection: close\r\n\r\n');
    assert.equal(rawStatus(r.text), 304);
    const headers = rawHeaders(r.text);
    // RFC 9530 §3 / RFC 9110 §15.4.5: a 304's Repr-Digest describes the selected representation the client holds.
    assert.notEqual(headers['repr-digest'], digestOf(''), 'the gateway told the client its cached 100 kB representation hashes like an empty one');
    assert.ok(headers['repr-digest'] === undefined || headers['repr-digest'] === digestOf(FULL), `repr-digest ${headers['repr-digest']}`);
    await readyz(gw);
  });

  test('a 206 never gets a Repr-Digest computed over the partial content', async () => {
    const r = await rawExchange(port, 'GET /buf/range HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nWant-Repr-Digest: sha-256=1\r\nConnection: close\r\n\r\n');
    assert.equal(rawStatus(r.text), 206);
    const headers = rawHeaders(r.text);
    // Repr-Digest is over the whole selected representation (RFC 9530 §3), not the range sent.
    assert.notEqual(headers['repr-digest'], digestOf(FULL.subarray(0, 10)), 'Repr-Digest of the 10-byte range instead of the representation');
    assert.ok(headers['repr-digest'] === undefined || headers['repr-digest'] === digestOf(FULL), `repr-digest ${headers['repr-digest']}`);
    await readyz(gw);
  });
});

/* --------------------------------------------------------------------------------------- message signatures */


describe('issue 16: message signatures (RFC 9421) under attack', () => {
  const partner = generateKeyPairSync('ed25519');
  const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
  let up: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    up = await startUpstream();
    gw = await startGateway(
      {
        upstreams: { main: { url: up.url } },
        monitor: { enabled: false },
        apis: [
          {
            name: 'partners',
            spec: './p.yaml',
            upstream: 'main',
            auth: { failure_backoff: { enabled: false }, signatures: { keys: { 'p-ed': { consumer: 'partner-ed', algorithm: 'ed25519', public_key: '${file:p.pub}' } } } },
          },
        ],
      },
      { files: { 'p.yaml': PARTNER_ORDERS_SPEC, 'p.pub': pem(partner.publicKey) } },
    );
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  const signedHeaders = async (path: string) =>
    (
      await httpbis.signMessage(
        { key: createSigner(partner.privateKey, 'ed25519', 'p-ed'), fields: ['@method', '@target-uri'], params: ['created', 'keyid', 'nonce'], paramValues: { created: new Date(), nonce: randomUUID() } },
        { method: 'GET', url: `${gw.url}${path}`, headers: { host: new URL(gw.url).host } },
      )
    ).headers as Record<string, string>;

  test('a captured signature is not accepted again after a reload that changes max_age_seconds', async () => {
    const captured = await signedHeaders('/orders/7');
    assert.equal((await send(gw.url, '/orders/7', { headers: captured })).status, 200);
    assert.equal((await send(gw.url, '/orders/7', { headers: captured })).status, 401, 'replay refused before the reload');
    const forwarded = up.seen.length;
    // The operator lengthens the window: the nonce cache is replaced by an empty one (params differ).
    const doc = parse(readFileSync(gw.configFile, 'utf8')) as { apis: { auth: { signatures: Record<string, unknown> } }[] };
    doc.apis[0]!.auth.signatures['max_age_seconds'] = 600;
    writeFileSync(gw.configFile, stringify(doc));
    assert.ok(await eventually(() => gw.logs.some((l) => l['msg'] === 'configuration reloaded'), 5000), 'reloaded');
    const replay = await send(gw.url, '/orders/7', { headers: captured });
    assert.equal(replay.status, 401, 'the replay of a signature accepted seconds ago was accepted after the reload');
    assert.equal(up.seen.length, forwarded, 'the replay reached the upstream');
    await readyz(gw);
  });
});

/* -------------------------------------------------------------------------------------- encryption at rest */

describe('issue 16: encryption at rest, a copy of the SQLite files after the upgrade', () => {
  const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
  const fileBytes = (path: string) => [path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f).toString('latin1')).join('');

  test('store: plaintext an older version freed (deleted consumers, old values) is gone from the file after the upgrade', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-i16-'));
    const path = join(dir, 'rampart.db');
    // An older Rampart (schema v1, everything in clear, SQLite's default secure_delete=0) used the database:
    // consumers created, most deleted (GDPR erasure), which leaves their pages on the freelist unzeroed.
    const legacy = new DatabaseSync(path);
    legacy.exec('PRAGMA journal_mode=WAL');
    legacy.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const v1 = SQLITE_MIGRATIONS[0]!;
    legacy.exec(v1.sql);
    legacy.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(v1.version, v1.name, 1);
    const insert = legacy.prepare('INSERT INTO consumers (id, name, tenant, roles, groups, plan, metadata, created_at, updated_at) VALUES (?, ?, NULL, ?, ?, NULL, ?, 1000, 1000)');
    for (let i = 0; i < 200; i++) insert.run(`c${String(i).padStart(4, '0')}`, `Person-${i}-FROBOZZ`, '[]', '[]', JSON.stringify({ email: `p${i}@frobozz.example`, note: 'z'.repeat(300) }));
    legacy.prepare("DELETE FROM consumers WHERE id > 'c0010'").run();
    legacy.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    legacy.close();

    const store = new SqliteStore({ path, keyring });
    try {
      assert.equal((await store.getConsumer('c0003'))?.name, 'Person-3-FROBOZZ', 'the live rows upgraded');
      const copy = fileBytes(path);
      assert.ok(copy.includes('c0003'), 'a real copy');
      const names = copy.match(/Person-\d+-FROBOZZ/g) ?? [];
      const emails = copy.match(/p\d+@frobozz\.example/g) ?? [];
      assert.deepEqual([names.length, emails.length], [0, 0], `names and e-mails left in clear after the upgrade, e.g. ${names.slice(0, 3).join(', ')}`);
    } finally {
      await store.close();
    }
  });

  test('audit database: incidents an older version stored in clear leave no IP or consumer in the file after the upgrade', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-i16-'));
    const path = join(dir, 'audit.db');
    const legacy = await openDb({ kind: 'sqlite', path });
    await legacy.exec('CREATE TABLE IF NOT EXISTS rampart_incidents (id TEXT PRIMARY KEY, incident_key TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL, data TEXT NOT NULL)');
    for (let i = 0; i < 50; i++) {
      const key = `auth_failures:ip:198.51.100.${i}`;
      const incident = { id: `inc_${i}`, kind: 'auth_failures', key, severity: 'high', status: 'open', subject: { ip: `198.51.100.${i}`, consumer: `victim-${i}-QUUX` }, summary: 'auth failures', count: 1, firstSeen: '2026-01-01T00:00:00Z', lastSeen: '2026-01-01T00:00:00Z', evidence: { requestIds: [], counts: {}, samples: [{ note: 'q'.repeat(600) }] }, actions: [], timeline: [] };
      await legacy.run('INSERT INTO rampart_incidents VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [incident.id, key, incident.kind, 'high', 'open', incident.firstSeen, incident.lastSeen, JSON.stringify(incident)]);
    }
    await legacy.close();

    const db = await openDb({ kind: 'sqlite', path });
    try {
      const incidents = new IncidentStore(db, keyring);
      await incidents.init();
      assert.equal(((await incidents.get('inc_3'))?.subject as { consumer?: string }).consumer, 'victim-3-QUUX', 'upgraded');
      const copy = fileBytes(path);
      const consumers = copy.match(/victim-\d+-QUUX/g) ?? [];
      const ips = copy.match(/198\.51\.100\.\d+/g) ?? [];
      assert.deepEqual([consumers.length, ips.length], [0, 0], 'incident subjects (consumers, IPs) left in clear in audit.db after the upgrade');
    } finally {
      await db.close();
    }
  });
});
