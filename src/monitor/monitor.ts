import { join } from 'node:path';
import type { RampartConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import type { RecordSink, RequestOutcome } from '../pipeline/types.ts';
import { auditDataDir, openAuditService, type AuditService } from '../audit/service.ts';
import { securityAuditEvent } from '../audit/records.ts';
import { IpBlocks, type BlockEntry } from './blocks.ts';
import { Detectors, type Detection, type RequestSample } from './detectors.ts';
import { SecurityEvents } from '../bus/events.ts';
import { BlockFanout } from './fanout.ts';
import { IncidentStore, type Incident, type IncidentAction } from './incidents.ts';
import { GatewayMetrics } from './metrics.ts';
import type { Responders } from './responders.ts';
import type { Severity } from './schema.ts';
import { AlertSender, type Alert } from './webhooks.ts';
import { keyringFromConfig } from '../store/encryption/config.ts';
import type { Keyring } from '../store/encryption/keyring.ts';
import { TrafficStats } from './traffic.ts';

function required<T>(responder: T | undefined): T {
  if (!responder) throw new Error('the responder of this action is not available in this process');
  return responder;
}

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
const MAX_QUEUE = 100_000;
const MAX_EVIDENCE_IDS = 50;
const MAX_TIMELINE = 200;

export interface MonitorOptions {
  readonly config: RampartConfig;
  readonly configFile: string;
  readonly logger: Logger;
  /** Clock in epoch ms (default Date.now). */
  readonly now?: () => number;
  /** KEKs of the incidents' data key (default: from `store.encryption`, as the store's). */
  readonly keyring?: Keyring;
}

/**
 * The control-plane monitor of one gateway process: the security event bus, the audit trail, Prometheus metrics,
 * the anomaly detectors (fed from a bounded queue, drained on a timer — never on the request path), incidents with
 * automated containment, IP blocks (with Redis fan-out when configured) and alert webhooks.
 */
export class Monitor {
  readonly events: SecurityEvents;
  readonly blocks: IpBlocks;
  readonly metrics: GatewayMetrics;
  /** This instance's last hour of traffic, for the dashboard (GET /admin/v1/traffic). */
  readonly traffic: TrafficStats;
  readonly audit: AuditService | undefined;
  readonly incidents: IncidentStore | undefined;
  /** Containment hooks: other modules set `keys`, `tokens`, `rates` here. */
  readonly responders: Responders = {};
  readonly #config: RampartConfig;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #detectors: Detectors;
  readonly #alerts: AlertSender;
  readonly #open = new Map<string, Incident>();
  #queue: RequestSample[] = [];
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #work: Promise<void> = Promise.resolve();
  #fanout: BlockFanout | undefined;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #incidentListeners = new Set<(event: Alert['event'], incident: Incident) => void>();

  private constructor(options: MonitorOptions, audit: AuditService | undefined, incidents: IncidentStore | undefined) {
    this.#config = options.config;
    this.#logger = options.logger.child({ log: 'monitor' });
    this.#now = options.now ?? Date.now;
    this.audit = audit;
    this.incidents = incidents;
    this.events = new SecurityEvents({ now: this.#now, onListenerError: (error) => this.#logger.error({ err: errorForLog(error) }, 'security event listener failed') });
    this.blocks = new IpBlocks(this.#now);
    this.traffic = new TrafficStats(this.#now);
    this.metrics = new GatewayMetrics({
      activeIncidents: () => {
        const counts: Record<string, number> = {};
        for (const i of this.#open.values()) counts[i.severity] = (counts[i.severity] ?? 0) + 1;
        return counts;
      },
      blockedIps: () => this.blocks.size,
      ...(audit
        ? {
            auditHead: () => audit.head.current(),
            auditRefused: () => audit.log.refused,
            auditHeadRejections: () => {
              const counts: Record<string, number> = {};
              for (const r of audit.rejectedHeads()) counts[r.reason] = (counts[r.reason] ?? 0) + 1;
              return counts;
            },
          }
        : {}),
    });
    this.#detectors = new Detectors(options.config.monitor.detectors);
    this.#alerts = new AlertSender(options.config.monitor.alerts, join(auditDataDir(options.config.audit, options.configFile), 'alerts-dead-letter.jsonl'), this.#logger, {
      now: this.#now,
      onResult: (result) => this.metrics.alertDeliveries.inc({ result }),
    });
    this.#unsubscribe.push(this.events.on((event) => this.metrics.onEvent(event)));
    if (audit) {
      this.#unsubscribe.push(this.events.on((event) => void audit.log.append(securityAuditEvent(event))));
      this.#unsubscribe.push(audit.log.onCommitted((count) => this.metrics.auditRecords.inc(count)));
    }
  }

  /** Opens the audit store, loads open incidents and active blocks, connects fan-out, starts the detector timer. */
  static async start(options: MonitorOptions): Promise<Monitor> {
    const { config } = options;
    const keyring = config.audit.enabled ? (options.keyring ?? keyringFromConfig(config.store, options.configFile, options.logger)) : undefined;
    const audit = config.audit.enabled ? await openAuditService(config.audit, options.configFile, options.logger, options.now) : undefined;
    let incidents: IncidentStore | undefined;
    if (audit) {
      incidents = new IncidentStore(audit.store.db, keyring!);
      await incidents.init().catch(async (error: unknown) => {
        await audit.close();
        throw error;
      });
    }
    const monitor = new Monitor(options, audit, incidents);
    try {
      await monitor.#load();
      if (config.monitor.fanout) {
        monitor.#fanout = await BlockFanout.start(config.monitor.fanout.redis_url, config.monitor.fanout.channel, monitor.blocks, monitor.#logger, () => void monitor.#loadBlocks());
      }
    } catch (error) {
      await monitor.stop();
      throw error;
    }
    if (config.monitor.enabled) {
      monitor.#timer = setInterval(() => monitor.#drain(), config.monitor.interval_ms);
      monitor.#timer.unref();
    }
    return monitor;
  }

  async #load(): Promise<void> {
    if (!this.incidents) return;
    for (const incident of await this.incidents.list({ status: 'open', limit: 10_000 })) this.#open.set(incident.key, incident);
    await this.#loadBlocks();
  }

  async #loadBlocks(): Promise<void> {
    if (!this.incidents) return;
    for (const entry of await this.incidents.activeBlocks(this.#now())) this.blocks.set(entry);
  }

  /**
   * Readiness detail for /readyz: `audit` is `ok`, `behind_published_head` or `unverifiable_head` while a rejected
   * audit head file is not acknowledged (docs/audit.md). Reported only, like the counters' detail.
   */
  readinessDetail(): Record<string, string> {
    return this.audit ? { audit: this.audit.headStatus() } : {};
  }

  /** Record sinks to add to the handler: audit (when enabled), metrics, and the detector feed. */
  get sinks(): RecordSink[] {
    const sinks: RecordSink[] = [];
    if (this.audit) sinks.push(this.audit.sink);
    sinks.push(this.metrics.sink, this.traffic);
    if (this.#config.monitor.enabled) sinks.push({ record: (outcome) => this.#enqueue(outcome) });
    return sinks;
  }

  #enqueue(o: RequestOutcome): void {
    if (this.#queue.length >= MAX_QUEUE) {
      this.#queue.shift();
      this.#dropped++;
    }
    const id = o.identity;
    this.#queue.push({
      at: this.#now(),
      requestId: o.requestId,
      ip: o.clientIp,
      method: o.method,
      status: o.status,
      decision: o.decision,
      code: o.code,
      route: o.compiled ? `${o.compiled.api.name}:${o.compiled.operationId}` : undefined,
      // object ids from the route's path parameters; passthrough routes (template `*`) have none, so the path stands in
      objectId: o.objectId,
      consumer: id?.consumer ?? (id ? id.subject : undefined),
      subject: id?.subject,
      keyId: id?.keyId,
    });
  }

  /** Runs the detectors over everything queued; resolves when resulting incidents are handled (tests use it). */
  drain(): Promise<void> {
    this.#drain();
    return this.#work;
  }

  #drain(): void {
    if (this.#queue.length === 0) return;
    if (this.#dropped > 0) {
      this.#logger.warn({ dropped: this.#dropped }, 'monitor queue overflowed; oldest request samples dropped');
      this.#dropped = 0;
    }
    const batch = this.#queue;
    this.#queue = [];
    const detections: Detection[] = [];
    for (const sample of batch) detections.push(...this.#detectors.observe(sample));
    for (const detection of detections) {
      this.#work = this.#work.then(() => this.#handle(detection)).catch((error: unknown) => this.#logger.error({ err: errorForLog(error) }, 'incident handling failed'));
    }
  }

  async #handle(d: Detection): Promise<void> {
    const s = d.subject;
    const subjectKey = s.keyId && d.kind === 'key_many_ips' ? `key:${s.keyId}` : s.consumer ? `consumer:${s.consumer}` : `ip:${s.ip}`;
    const key = `${d.kind}:${subjectKey}`;
    const nowIso = new Date(this.#now()).toISOString();
    const existing = this.#open.get(key);
    if (existing) {
      existing.count = Math.max(existing.count, d.count);
      existing.lastSeen = new Date(d.lastAt).toISOString();
      existing.evidence.requestIds = [...new Set([...existing.evidence.requestIds, ...d.requestIds])].slice(-MAX_EVIDENCE_IDS);
      for (const [k, v] of Object.entries(d.counts)) existing.evidence.counts[k] = Math.max(existing.evidence.counts[k] ?? 0, v);
      this.#timeline(existing, 'updated', { count: d.count });
      if (s.ip && !this.blocks.isBlocked(s.ip) && existing.actions.some((a) => a.type === 'block_ip' && a.target === s.ip && a.status === 'applied')) {
        await this.#contain(existing); // the block lapsed while the attack goes on: block again
      }
      await this.incidents?.save(existing);
      return;
    }
    const incident: Incident = {
      id: IncidentStore.newId(),
      kind: d.kind,
      key,
      severity: d.severity,
      status: 'open',
      subject: d.subject,
      summary: d.summary,
      count: d.count,
      firstSeen: new Date(d.firstAt).toISOString(),
      lastSeen: new Date(d.lastAt).toISOString(),
      evidence: { requestIds: [...d.requestIds], counts: { ...d.counts }, samples: [] },
      actions: [],
      timeline: [{ at: nowIso, event: 'opened', detail: { summary: d.summary } }],
    };
    this.#open.set(key, incident);
    this.metrics.incidentsOpened.inc({ kind: d.kind, severity: d.severity });
    this.#logger.warn({ incident: incident.id, kind: d.kind, severity: d.severity }, d.summary);
    this.audit?.log.append({ type: 'incident.opened', fields: { incident: incident.id, kind: d.kind, severity: d.severity, summary: d.summary, ...d.subject, requestIds: d.requestIds.slice(-5) } });
    await this.#contain(incident);
    await this.incidents?.save(incident);
    this.#alert('incident.opened', incident);
  }

  async #contain(incident: Incident): Promise<void> {
    const respond = this.#config.monitor.respond;
    if (SEVERITY_RANK[incident.severity] < SEVERITY_RANK[respond.min_severity]) {
      this.#timeline(incident, 'containment_skipped', { reason: `severity below ${respond.min_severity}` });
      return;
    }
    const s = incident.subject;
    const now = this.#now();
    const reason = `${incident.kind} (${incident.id})`;
    const run = async (type: IncidentAction['type'], target: string, until: number | undefined, fn: (() => Promise<void>) | undefined) => {
      const action: IncidentAction = { id: `act_${incident.actions.length + 1}`, type, target, at: new Date(now).toISOString(), status: 'applied', ...(until ? { until } : {}) };
      if (!fn) {
        action.status = 'unavailable';
        action.detail = 'no responder for this action in this deployment';
      } else {
        try {
          await fn();
          this.metrics.containment.inc({ action: type });
        } catch (error) {
          action.status = 'failed';
          action.detail = (error as Error).name;
          this.#logger.error({ incident: incident.id, action: type, err: errorForLog(error) }, 'containment action failed');
        }
      }
      incident.actions.push(action);
      this.#timeline(incident, `action.${type}`, { target, status: action.status });
      this.audit?.log.append({ type: 'incident.action', fields: { incident: incident.id, action: type, target: type === 'block_ip' ? undefined : target, ip: type === 'block_ip' ? target : undefined, status: action.status, until } });
    };
    if (s.ip && incident.kind !== 'key_many_ips' && respond.block_ip_minutes > 0) {
      const until = now + respond.block_ip_minutes * 60_000;
      await run('block_ip', s.ip, until, () => this.block({ ip: s.ip!, until, incidentId: incident.id, reason }));
    }
    if (s.keyId && respond.suspend_keys && incident.kind !== 'auth_failures') {
      const keys = this.responders.keys;
      await run('suspend_key', s.keyId, undefined, keys ? () => keys.suspendKey(s.keyId!, reason) : undefined);
    }
    if (s.subject && respond.revoke_tokens) {
      const tokens = this.responders.tokens;
      await run('revoke_tokens', s.subject, undefined, tokens ? () => tokens.revokeTokensBefore(s.subject!, now, reason) : undefined);
    }
    if (s.consumer && respond.tighten_rate_limit.enabled) {
      const t = respond.tighten_rate_limit;
      const rates = this.responders.rates;
      const until = now + t.minutes * 60_000;
      await run('tighten_rate_limit', s.consumer, until, rates ? () => rates.tighten(s.consumer!, t.factor, until, reason) : undefined);
    }
  }

  /** Blocks an IP on this instance, in the store, and on every instance (fan-out). */
  async block(entry: BlockEntry): Promise<void> {
    this.blocks.set(entry);
    await this.incidents?.putBlock(entry);
    await this.#fanout?.publishBlock(entry);
  }

  /** Lifts a block everywhere; audited with the actor. Returns whether a block existed. */
  async unblock(ip: string, actor: string): Promise<boolean> {
    const local = this.blocks.delete(ip);
    const stored = (await this.incidents?.deleteBlock(ip)) ?? false;
    await this.#fanout?.publishUnblock(ip);
    this.audit?.log.append({ type: 'ip.unblocked', fields: { ip, actor } });
    await this.audit?.log.flush();
    return local || stored;
  }

  /**
   * Resolves an incident: reverts every applied action (unblock, reinstate the key, lift the revocation, relax the
   * limit), records who did it, audits it (durably) and sends a resolved alert. Returns undefined for an unknown id.
   */
  async resolve(id: string, actor: string, note?: string): Promise<Incident | undefined> {
    const incident = [...this.#open.values()].find((i) => i.id === id) ?? (await this.incidents?.get(id));
    if (!incident) return undefined;
    if (incident.status === 'resolved') return incident;
    for (const action of incident.actions) {
      if (action.status !== 'applied') continue;
      try {
        if (action.type === 'block_ip') await this.unblock(action.target, actor);
        else if (action.type === 'suspend_key') await required(this.responders.keys).reinstateKey(action.target, actor);
        else if (action.type === 'revoke_tokens') await required(this.responders.tokens).unrevoke(action.target, actor);
        else if (action.type === 'tighten_rate_limit') await required(this.responders.rates).relax(action.target, actor);
        action.status = 'reverted';
        this.#timeline(incident, `reverted.${action.type}`, { target: action.target, actor });
      } catch (error) {
        this.#timeline(incident, `revert_failed.${action.type}`, { target: action.target, error: (error as Error).name });
      }
    }
    incident.status = 'resolved';
    incident.resolvedAt = new Date(this.#now()).toISOString();
    incident.resolvedBy = actor;
    this.#timeline(incident, 'resolved', { actor, ...(note ? { note: note.slice(0, 500) } : {}) });
    this.#open.delete(incident.key);
    await this.incidents?.save(incident);
    this.audit?.log.append({ type: 'incident.resolved', fields: { incident: incident.id, actor, reverted: incident.actions.filter((a) => a.status === 'reverted').map((a) => a.type) } });
    await this.audit?.log.flush();
    this.#alert('incident.resolved', incident);
    return incident;
  }

  /**
   * Applies again the containment of open incidents loaded at start (suspensions, revocations and tightenings live
   * in memory and on the bus; blocks are reloaded from the store). Call once the responders are set.
   */
  async restoreContainment(): Promise<void> {
    for (const incident of this.#open.values()) {
      const reason = `${incident.kind} (${incident.id}), restored at start`;
      for (const action of incident.actions) {
        if (action.status !== 'applied') continue;
        try {
          if (action.type === 'suspend_key') await this.responders.keys?.suspendKey(action.target, reason);
          else if (action.type === 'revoke_tokens') await this.responders.tokens?.revokeTokensBefore(action.target, Date.parse(action.at), reason);
          else if (action.type === 'tighten_rate_limit' && action.until !== undefined && action.until > this.#now()) {
            await this.responders.rates?.tighten(action.target, this.#config.monitor.respond.tighten_rate_limit.factor, action.until, reason);
          }
        } catch (error) {
          this.#logger.error({ incident: incident.id, action: action.type, err: errorForLog(error) }, 'containment could not be restored');
        }
      }
    }
  }

  /** Open incidents, newest first. */
  openIncidents(): Incident[] {
    return [...this.#open.values()].sort((a, b) => b.firstSeen.localeCompare(a.firstSeen));
  }

  /** Waits for queued alert deliveries (tests). */
  drainAlerts(): Promise<void> {
    return this.#alerts.drain();
  }

  #timeline(incident: Incident, event: string, detail?: Record<string, unknown>): void {
    incident.timeline.push({ at: new Date(this.#now()).toISOString(), event, ...(detail ? { detail } : {}) });
    if (incident.timeline.length > MAX_TIMELINE) incident.timeline.splice(1, incident.timeline.length - MAX_TIMELINE);
  }

  /** Subscribes to incidents opened and resolved (the dashboard's live feed); returns the unsubscribe function. */
  onIncident(listener: (event: Alert['event'], incident: Incident) => void): () => void {
    this.#incidentListeners.add(listener);
    return () => this.#incidentListeners.delete(listener);
  }

  #alert(event: Alert['event'], i: Incident): void {
    for (const listener of this.#incidentListeners) {
      try {
        listener(event, i);
      } catch (error) {
        this.#logger.error({ err: errorForLog(error) }, 'incident listener failed');
      }
    }
    this.#alerts.send({ event, incident: { id: i.id, kind: i.kind, severity: i.severity, summary: i.summary, subject: i.subject, count: i.count, actions: i.actions } });
  }

  /** Stops the timer and fan-out, flushes and closes the audit trail. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#drain();
    await this.#work;
    for (const off of this.#unsubscribe) off();
    this.#alerts.stop();
    await this.#fanout?.close();
    await this.audit?.close();
  }
}
