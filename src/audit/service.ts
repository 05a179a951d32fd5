import { readOrCreateSecretFile } from '../config/generated-secret.ts';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Logger } from '../log.ts';
import { GatewayError } from '../problem.ts';
import { outcomeOf, type AuditTrail, type RequestContext, type RequestOutcome, type RecordSink, type ResponsePolicy } from '../pipeline/types.ts';
import { openDb, type Db, type DbOptions } from './db.ts';
import { checkPublishedHead, headStatus, unacknowledgedRejections, type HeadCheck, type HeadCheckStatus, type HeadRejection } from './head-check.ts';
import { HeadPublisher } from './head.ts';
import { AuditLog } from './log.ts';
import { AuditPrivacy } from './privacy.ts';
import { requestAuditEvent } from './records.ts';
import type { AuditConfig } from './schema.ts';
import { loadOrCreateSigningKey, signingKeyFromPem, type SigningKey } from './signing.ts';
import { AuditStore } from './store.ts';
import { InlineAuditWriter, ThreadedAuditWriter, type AuditWriter } from './writer.ts';

/** Resolves `audit.data_dir` against the config file's directory. */
export function auditDataDir(config: AuditConfig, configFile: string): string {
  return isAbsolute(config.data_dir) ? config.data_dir : resolve(dirname(configFile), config.data_dir);
}

/** The signed head file: `audit.head_file` (relative to the config file), default `<data_dir>/audit-head.json`. */
export function auditHeadFile(config: AuditConfig, configFile: string): string {
  const file = config.head_file;
  if (file) return isAbsolute(file) ? file : resolve(dirname(configFile), file);
  return join(auditDataDir(config, configFile), 'audit-head.json');
}

/** The audit database named by the config (SQLite by default at `<data_dir>/audit.db`). */
export function auditDbOptions(config: AuditConfig, configFile: string): DbOptions {
  const store = config.store;
  if (store.kind === 'postgres') {
    if (!store.url) throw new Error('audit.store.url: required when audit.store.kind is postgres');
    return { kind: 'postgres', url: store.url, schema: store.schema };
  }
  const path = store.path ? (isAbsolute(store.path) ? store.path : resolve(dirname(configFile), store.path)) : join(auditDataDir(config, configFile), 'audit.db');
  return { kind: 'sqlite', path };
}

/** Opens the audit database named by the config. */
export function openAuditDb(config: AuditConfig, configFile: string): Promise<Db> {
  return openDb(auditDbOptions(config, configFile));
}

/** The checkpoint key: `audit.signing_key` (PEM, resolved from its reference), else generated in the data dir. */
export function auditSigningKey(config: AuditConfig, configFile: string, logger?: Logger): SigningKey {
  if (config.signing_key) return signingKeyFromPem(config.signing_key);
  const path = join(auditDataDir(config, configFile), 'audit-signing.key');
  const { key, generated } = loadOrCreateSigningKey(path);
  if (generated) logger?.warn({ path }, 'generated an audit signing key; set audit.signing_key to a managed key in production');
  return key;
}

function ipKey(config: AuditConfig, configFile: string): string {
  if (config.ip_key) return config.ip_key;
  return readOrCreateSecretFile(join(auditDataDir(config, configFile), 'audit-ip.key'), () => randomBytes(32).toString('base64url')).value.trim();
}

/** The running audit trail of one gateway: log, store, and the hooks the request path uses. */
export interface AuditService {
  readonly log: AuditLog;
  readonly store: AuditStore;
  readonly key: SigningKey;
  /** The signed chain head, published to the head file, the log and `GET /admin/v1/audit/head`. */
  readonly head: HeadPublisher;
  /** The head file (`audit.head_file`). */
  readonly headFile: string;
  /** What the start-up comparison of the head file with the store found. */
  readonly headCheck: HeadCheck;
  /**
   * `ok`, or why a head file was rejected (at this start or an earlier one) and not yet acknowledged by moving the
   * rejected file away. Read from the head file's directory on each call.
   */
  headStatus(): HeadCheckStatus;
  /** The rejected head files not yet acknowledged (moved away by an operator), oldest first. */
  rejectedHeads(): readonly { readonly file: string; readonly reason: HeadRejection }[];
  readonly sink: RecordSink;
  /** Deny gate for GatewayHandler.setDenyGate (sync durability only). */
  readonly denyGate: (ctx: RequestContext, status: number) => Promise<void> | undefined;
  close(): Promise<void>;
}

export interface AuditServiceOptions {
  /**
   * `thread` (default): the chain is extended by a worker thread with its own connection (writer.ts), so commits
   * and their fsync never stop the event loop. `inline`: in this thread (short-lived CLI commands; an in-memory
   * SQLite database, which a second connection could not see).
   */
  readonly writer?: 'thread' | 'inline';
}

/**
 * Opens the audit trail from config: database, tables, signing key, privacy filter, writer, group-commit log,
 * retention timer (hourly). Throws (stopping start-up) when the store, the key or the writer cannot be opened.
 */
export async function openAuditService(config: AuditConfig, configFile: string, logger: Logger, now: () => number = Date.now, options: AuditServiceOptions = {}): Promise<AuditService> {
  const dbOptions = auditDbOptions(config, configFile);
  // This connection is the gateway's (reads, incidents, blocks): it must not block the event loop while the writer
  // thread (or another process) holds SQLite's write lock.
  const db = await openDb({ ...dbOptions, onBusy: 'yield' });
  const key = auditSigningKey(config, configFile, logger);
  if (!key.privateKey) {
    await db.close();
    throw new Error('audit.signing_key: must be the Ed25519 private key (the gateway signs checkpoints and heads and MACs records)');
  }
  const headFile = auditHeadFile(config, configFile);
  // The store is read lazily: the publisher signs only after the store has been opened and appended to.
  const head: HeadPublisher = new HeadPublisher({ key, keyedFrom: () => store.keyedFrom, file: headFile, intervalMs: config.head_interval_ms, every: config.checkpoint_every, logger: logger.child({ log: 'audit' }), now });
  const store = new AuditStore(db, key, { checkpointEvery: config.checkpoint_every, onAppended: (tail, n) => head.observe(tail, n) });
  try {
    await store.init();
  } catch (error) {
    await db.close();
    throw error;
  }
  let check: HeadCheck;
  try {
    check = await checkPublishedHead(store, key, headFile, now());
  } catch (error) {
    await db.close();
    throw error;
  }
  // The head this trail published last is outside the database: its keyed_from cannot have been moved later.
  if (check.published) store.lowerKeyedFrom(check.published.keyed_from);
  if (check.rejection) {
    logger.error(
      { log: 'audit', reason: check.rejection, headSeq: check.published?.seq, storeSeq: check.storeSeq, rejectedFile: check.rejectedFile },
      `${check.rejection === 'unverifiable' ? 'audit head file rejected' : 'audit store is behind its published head'}: ${check.message}; the old head file was kept aside — see docs/audit.md "When the store is behind its published head"`,
    );
    const tail = (await store.tail(1))[0];
    if (tail) {
      // A fresh head for what the store holds now, so the next start compares against it and not against nothing.
      head.observe(tail, 0);
      await head.flush();
    }
  } else if (check.published) {
    head.seed(check.published);
  }
  const earlier = unacknowledgedRejections(headFile).filter((r) => r.file !== check.rejectedFile);
  if (earlier.length > 0) {
    logger.error({ log: 'audit', rejectedFiles: earlier.map((r) => r.file) }, 'audit head files rejected at an earlier start are not acknowledged yet — see docs/audit.md "When the store is behind its published head"');
  }
  const privacy = new AuditPrivacy({ ipKey: config.pseudonymise_ips ? ipKey(config, configFile) : undefined, redactFields: config.redact_fields });
  let writer: AuditWriter;
  if ((options.writer ?? 'thread') === 'inline' || dbOptions.path === ':memory:') {
    writer = new InlineAuditWriter(store);
  } else {
    try {
      writer = await ThreadedAuditWriter.start({ db: dbOptions, key, checkpointEvery: config.checkpoint_every, keyedFrom: store.keyedFrom, onAppended: (tail, n) => head.observe(tail, n) });
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  const log = new AuditLog(store, { flushIntervalMs: config.flush_interval_ms, now, privacy, logger: logger.child({ log: 'audit' }), writer });
  const sync = config.durability === 'sync';
  const prune = () => {
    const cutoff = new Date(now() - config.retention_days * 86_400_000).toISOString();
    void writer.prune(cutoff, now()).catch(() => undefined);
  };
  prune();
  const timer = setInterval(prune, 3_600_000);
  timer.unref();

  const appendFor = (outcome: RequestOutcome): boolean => {
    if (outcome.notes.audited === true) return false;
    const event = requestAuditEvent(outcome, config);
    if (!event) return false;
    log.append(event);
    return true;
  };
  return {
    log,
    store,
    key,
    head,
    headFile,
    headCheck: check,
    headStatus: () => headStatus(headFile),
    rejectedHeads: () => unacknowledgedRejections(headFile),
    sink: { record: (outcome) => void appendFor(outcome) },
    denyGate: (ctx, status) => {
      if (!sync) return undefined;
      try {
        if (!appendFor(outcomeOf(ctx, status))) return undefined;
        ctx.notes.audited = true;
        return log.durable();
      } catch (error) {
        // A deny the trail cannot keep is not sent as a deny: the handler answers 503 (fail closed).
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    async close() {
      clearInterval(timer);
      await log.close();
      await head.close();
      await db.close();
    },
  };
}

/**
 * The audit response policy (stage 12, last): for audited allowed requests (auth success, sensitive operations),
 * appends the record and holds the response until it is durable. If the audit write fails the client gets 503 —
 * nothing is acknowledged that the audit trail did not keep (fail closed).
 */
export function createAuditResponsePolicy(config: AuditConfig, log: AuditTrail | undefined): ResponsePolicy | undefined {
  if (!log || !config.enabled || config.durability !== 'sync') return undefined;
  return {
    name: 'audit',
    stage: 'audit_gate',
    needsBody: false,
    async run(ctx, response) {
      if (ctx.notes.audited === true) return;
      const event = requestAuditEvent(outcomeOf(ctx, response.status), config);
      if (!event) return;
      ctx.notes.audited = true;
      log.append(event);
      try {
        await log.durable();
      } catch (error) {
        throw new GatewayError('service_unavailable', 'audit record could not be committed', { cause: error });
      }
    },
  };
}
