import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import type { RampartConfig } from '../config/types.ts';
import { parseHead, readHeadFile, type SignedHead } from '../audit/head.ts';
import { auditDataDir, auditHeadFile, openAuditDb } from '../audit/service.ts';
import { signingKeyFromPem, type SigningKey } from '../audit/signing.ts';
import { AuditStore, AuditStoreDamaged } from '../audit/store.ts';
import { verifyChain } from '../audit/verify.ts';

export const AUDIT_USAGE = `Usage: rampart audit <verify|tail|search|export> [-c rampart.yaml] [options]

  verify [--head file|json]... [--public-key file]
                                 check the hash chain, record MACs, signed checkpoints and the published heads
                                 (each --head, plus the head file beside the data); exit 1 naming the first bad
                                 record (exit 2 when there is nothing to verify: no audit database or no key)
  tail [-n 20]                   the newest records (JSONL)
  search [--type T] [--text S] [--since ISO] [--until ISO] [--limit N]
  export [--since ISO] [--until ISO]   every record (JSONL), oldest first
`;

/** A setup problem (not a broken chain): printed as is, exit 2. */
class AuditCliError extends Error {}

function keyFor(config: RampartConfig['audit'], configFile: string, publicKey: string | undefined): SigningKey {
  if (publicKey) {
    if (!existsSync(publicKey)) throw new AuditCliError(`--public-key ${publicKey}: no such file`);
    return signingKeyFromPem(readFileSync(publicKey, 'utf8'));
  }
  if (config.signing_key) return signingKeyFromPem(config.signing_key);
  const path = join(auditDataDir(config, configFile), 'audit-signing.key');
  if (!existsSync(path)) throw new AuditCliError(`no audit signing key: set audit.signing_key or pass --public-key (looked for ${path})`);
  return signingKeyFromPem(readFileSync(path, 'utf8'));
}

/** The SQLite audit database must exist: opening a missing one would create an empty trail that "verifies". */
function requireSqliteDb(config: RampartConfig['audit'], configFile: string): void {
  if (config.store.kind !== 'sqlite') return;
  const { path } = config.store;
  const file = path ? (isAbsolute(path) ? path : resolve(dirname(configFile), path)) : join(auditDataDir(config, configFile), 'audit.db');
  if (!existsSync(file)) throw new AuditCliError(`no audit database at ${file} (has the gateway run with this config?)`);
}

/**
 * The heads to check the store against: each `--head` (a file, or the JSON itself) and the head file the gateway
 * writes (when it exists). A head that does not parse is a setup error.
 */
function headsFor(config: RampartConfig['audit'], configFile: string, given: readonly string[]): SignedHead[] {
  const heads: SignedHead[] = [];
  for (const arg of given) {
    const text = arg.trimStart().startsWith('{') ? arg : existsSync(arg) ? readFileSync(arg, 'utf8') : undefined;
    if (text === undefined) throw new AuditCliError(`--head ${arg}: no such file (give a head file or its JSON)`);
    try {
      heads.push(parseHead(text));
    } catch (error) {
      throw new AuditCliError(`--head ${arg.length > 80 ? 'JSON' : arg}: ${(error as Error).message}`);
    }
  }
  const file = auditHeadFile(config, configFile);
  try {
    const own = readHeadFile(file);
    if (own) heads.push(own);
  } catch (error) {
    throw new AuditCliError(`${file}: ${(error as Error).message}`);
  }
  return heads;
}

/** A positive integer option, at most `max`. */
function count(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1) throw new AuditCliError(`--${name} must be a positive integer, got "${text}"`);
  return Math.min(max, n);
}

/** `since`/`until` must be ISO timestamps: records compare as text, so anything else filters silently wrong. */
function instant(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text) || Number.isNaN(ms)) throw new AuditCliError(`--${name} must be an ISO 8601 time (e.g. 2025-01-31T00:00:00Z), got "${text}"`);
  return new Date(ms).toISOString();
}

/** `rampart audit …`: reads the audit store named by the config. Returns the exit code. */
export async function runAudit(configFile: string, args: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  try {
    return await audit(configFile, args, out);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof AuditCliError) {
      process.stderr.write(`rampart: ${error.message}\n`);
      return 2;
    }
    if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`rampart: ${(error as Error).message}\n${AUDIT_USAGE}`);
      return 2;
    }
    throw error;
  }
}

async function audit(configFile: string, args: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string', short: 'c' },
      'public-key': { type: 'string' },
      head: { type: 'string', multiple: true },
      n: { type: 'string', short: 'n' },
      type: { type: 'string' },
      text: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      // Output is JSON lines already; accepted for scripts that ask for it.
      json: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const sub = positionals[0];
  if (!sub || !['verify', 'tail', 'search', 'export'].includes(sub)) {
    process.stderr.write(AUDIT_USAGE);
    return 2;
  }
  const { config, file } = loadConfigFile(values.config ?? configFile);
  const n = count('n', values.n, 20, 10_000);
  const limit = count('limit', values.limit, 1000, 100_000);
  const since = instant('since', values.since);
  const until = instant('until', values.until);
  requireSqliteDb(config.audit, file);
  const key = sub === 'verify' ? keyFor(config.audit, file, values['public-key']) : undefined;
  const heads = sub === 'verify' ? headsFor(config.audit, file, values.head ?? []) : [];
  const db = await openAuditDb(config.audit, file);
  const line = (value: unknown) => out.write(JSON.stringify(value) + '\n');
  try {
    const store = new AuditStore(db, undefined);
    try {
      await store.init();
    } catch (error) {
      if (!(error instanceof AuditStoreDamaged) || sub !== 'verify') throw error;
      line({ ok: false, records: 0, checkpoints: 0, lastSeq: 0, heads: heads.length, macs: 0, unanchored: 0, firstBad: { seq: 1, reason: error.message } });
      process.stderr.write(`audit chain BROKEN at record 1: ${error.message}\n`);
      return 1;
    }
    switch (sub) {
      case 'verify': {
        const result = await verifyChain(store, key!, { heads });
        line(result);
        if (!result.ok) {
          process.stderr.write(`audit chain BROKEN at record ${result.firstBad!.seq}: ${result.firstBad!.reason}\n`);
          return 1;
        }
        if (heads.length === 0) process.stderr.write('rampart: no published head given (--head): records deleted from the end, a rollback or an emptied store cannot be detected\n');
        if (result.unanchored > 0) process.stderr.write(`rampart: ${result.unanchored} record(s) after the newest signed head are not authenticated with a public key only\n`);
        return 0;
      }
      case 'tail':
        for (const r of await store.tail(n)) line(r);
        return 0;
      case 'search':
        for (const r of await store.search({ type: values.type, text: values.text, since, until, limit })) line(r);
        return 0;
      default: {
        let after = 0;
        for (;;) {
          const page = await store.page(after, 1000);
          if (page.length === 0) break;
          for (const r of page) if ((!since || r.time >= since) && (!until || r.time <= until)) line(r);
          after = page.at(-1)!.seq;
        }
        return 0;
      }
    }
  } finally {
    await db.close();
  }
}
