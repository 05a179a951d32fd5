import type { Logger } from '../../log.ts';
import type { SecurityEvents } from '../../bus/events.ts';
import { mediaTypeOf } from '../../http/media.ts';
import { parseCookies } from '../../openapi/params.ts';
import type { PolicyBuildInput, RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import { ConfigIssueError } from '../../config/errors.ts';
import { GatewayError } from '../../problem.ts';
import { parsedBody } from '../validate/body.ts';
import { bodyLimitsFor } from '../validate/index.ts';
import { ScanBudgetError, type ScanBudget } from './decode.ts';
import { createScanner, scanValue, type Scanner } from './detect.ts';
import { FREE, planOf, type ScanPlan, type SchemaNode } from './plan.ts';
import type { WafConfig } from './schema.ts';
import { FAMILIES, type Family, type Hit, type Location } from './types.ts';
import { refuseXmlBody, xmlValues } from './xxe.ts';

export { createLeakPolicy } from './leaks.ts';
export { wafReport } from './report.ts';

/** Most hits one request reports in monitor mode (events, log lines); scanning goes on, reporting stops. */
const MAX_REPORTED_HITS = 8;
/** Longest pointer segment kept in logs (client-chosen keys are cut and sanitised). */
const MAX_SEGMENT = 48;

interface Exclusion {
  readonly field: readonly string[] | undefined;
  readonly family: Family | undefined;
  readonly rule: string | undefined;
}

/** What one request found, for the record stage and monitor mode. */
interface Finding {
  readonly family: Family | 'budget';
  readonly rule: string;
  readonly field: string;
}

/**
 * The WAF stage (DESIGN.md §3 stage 10) for one route. At compile time it decides from the operation's schemas which
 * values are free text ({@link planOf}; passthrough routes: everything) and builds the detectors of the enabled
 * families at the configured paranoia level. Per request it scans path parameters, query parameters (and undeclared
 * query keys), the configured headers and declared header parameters, cookies, and the body as every stage sees it
 * (validate/body.ts: JSON values and free keys, form and multipart fields and file names; XML bodies may hold no
 * DOCTYPE), each value in every decoded form. `block` mode throws a 403 `injection_detected` GatewayError at the
 * first hit; `monitor` mode lets the request through. Every hit is logged and emitted as a `waf.hit` security event
 * with family, rule and field pointer, never the value. Returns undefined when `waf.enabled` is false.
 */
export function createWafPolicy(input: PolicyBuildInput): RequestPolicy | undefined {
  const config: WafConfig = input.api.waf;
  if (!config.enabled) return undefined;
  const families = new Set(FAMILIES.filter((f) => config.families[f] !== false));
  const scanner = createScanner(families, config.paranoia);
  const plan = planOf(input.operation, { shortMaxLength: config.short_string_max_length });
  config.exclusions.forEach((e, i) => {
    if (e.field === undefined && e.family === undefined && e.rule === undefined) {
      throw new ConfigIssueError(`apis[${input.apiIndex}].waf.exclusions[${i}]`, 'an exclusion needs at least one of field, family or rule', 'an operation alone would turn the WAF off there: use waf.families or waf.enabled instead, visibly');
    }
  });
  const exclusions: Exclusion[] = config.exclusions
    .filter((e) => e.operation === undefined || e.operation === input.operationId)
    .map((e) => ({ field: e.field?.split('/'), family: e.family, rule: e.rule }));
  const alwaysHeaders = new Set(config.headers.map((h) => h.toLowerCase()));
  const undeclaredQuery = !input.operation || input.api.validation.additional_properties === 'allow';
  const limits = bodyLimitsFor(input.api, input.maxBodyBytes);
  const xxe = families.has('xxe');
  const monitor = config.mode === 'monitor';
  const { logger, events } = input.services;
  const api = input.api.name;
  const operationId = input.operationId;

  return {
    name: 'waf',
    stage: 'waf',
    run(ctx: RequestContext): void | Promise<void> {
      const scan = new RequestScan(scanner, exclusions, { remaining: config.max_scan_chars });
      const findings: Finding[] = [];
      const report = (finding: Finding): void => {
        if (findings.length < MAX_REPORTED_HITS) {
          findings.push(finding);
          emit(finding, ctx, { api, operationId, mode: config.mode, logger, events });
        }
        if (!monitor) {
          ctx.notes.waf = [finding];
          ctx.notes.rule = finding.rule;
          throw new GatewayError('injection_detected', `waf ${finding.family}/${finding.rule} at ${finding.field}`);
        }
      };
      const guarded = (work: () => void): void => {
        try {
          work();
        } catch (error) {
          if (!(error instanceof ScanBudgetError)) throw error;
          report({ family: 'budget', rule: 'waf-scan-budget', field: 'request' });
        }
        if (findings.length > 0) ctx.notes.waf = findings;
      };
      guarded(() => scanParameters(ctx, plan, scan, alwaysHeaders, undeclaredQuery, report));
      if (!ctx.hasBody) return;
      return parsedBody(ctx, limits).then((body) => {
        if (!body) return;
        guarded(() => {
          const node = plan.all ? FREE : (plan.bodies.get(body.mediaType) ?? plan.bodies.get(`${body.mediaType.split('/')[0]}/*`) ?? plan.bodies.get('*/*') ?? FREE);
          if (body.kind === 'json') scan.walk(body.value, node, ['body'], report);
          else if (body.kind === 'form') {
            scan.walk(body.value, node, ['body'], report);
            for (const [field, name] of body.fileNames ?? []) scan.value(name, 'filename', ['body', field, 'filename'], 'free', report);
          } else {
            const text = ctx.bufferedBody?.toString('utf8') ?? '';
            const type = mediaTypeOf(ctx.headers['content-type']) ?? '';
            if (isXml(type)) {
              if (xxe) {
                scan.charge(text.length);
                const found = refuseXmlBody(text);
                if (found) scan.found(found, ['body'], report);
              }
              // The document's text and attribute values are free text like a JSON body's strings: an XML API
              // reads them out and uses them the same way.
              xmlValues(text, (value) => scan.value(value, 'body', ['body'], node.strings, report));
            } else if (type.startsWith('text/') || plan.all) scan.value(text, 'body', ['body'], node.strings, report);
          }
        });
      });
    },
  };
}

function isXml(type: string): boolean {
  return type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml');
}

type Report = (finding: Finding) => void;

function scanParameters(ctx: RequestContext, plan: ScanPlan, scan: RequestScan, alwaysHeaders: ReadonlySet<string>, undeclaredQuery: boolean, report: Report): void {
  if (plan.all) {
    const segments = ctx.path.split('/');
    for (let i = 0; i < segments.length; i++) {
      if (segments[i] === '') continue;
      let segment = segments[i]!;
      try {
        segment = decodeURIComponent(segment);
      } catch {
        // Normalisation refused malformed escapes already; keep the raw text if not.
      }
      scan.value(segment, 'path', ['path', String(i)], 'free', report);
    }
  } else {
    for (const param of plan.path) {
      const value = ctx.params[param.name];
      if (value !== undefined) scan.param(value, 'path', param.node, param.array, param.json, ['path', param.name], report);
    }
  }
  if (ctx.rawQuery !== '') {
    for (const [key, value] of ctx.query) {
      const param = plan.query.get(key);
      if (param) {
        scan.param(value, 'query', param.node, param.array, param.json, ['query', key], report);
        continue;
      }
      // Undeclared keys reach here only when validation lets them through (or there is no contract).
      if (!undeclaredQuery && !plan.all && !key.includes('[')) continue;
      scan.value(key, 'key', ['query', key], 'free', report);
      scan.value(value, 'query', ['query', key], 'free', report);
    }
  }
  for (const name of alwaysHeaders) {
    if (plan.headers.has(name)) continue;
    const value = ctx.headers[name];
    if (value !== undefined) scan.value(Array.isArray(value) ? value.join(', ') : value, 'header', ['header', name], 'free', report);
  }
  for (const [name, param] of plan.headers) {
    const value = ctx.headers[name];
    if (value !== undefined) scan.param(Array.isArray(value) ? value.join(', ') : value, 'header', param.node, param.array, param.json, ['header', name], report);
  }
  const cookie = ctx.headers['cookie'];
  if (cookie !== undefined) {
    for (const [name, value] of parseCookies(cookie)) {
      const param = plan.cookies.get(name);
      for (const one of Array.isArray(value) ? value : [value]) {
        if (param) scan.param(one, 'cookie', param.node, false, param.json, ['cookie', name], report);
        else scan.value(one, 'cookie', ['cookie', name], 'free', report);
      }
    }
  }
}

/** One request's scan: its budget, the route's scanner and exclusions. */
class RequestScan {
  readonly #scanner: Scanner;
  readonly #exclusions: readonly Exclusion[];
  readonly #budget: ScanBudget;

  constructor(scanner: Scanner, exclusions: readonly Exclusion[], budget: ScanBudget) {
    this.#scanner = scanner;
    this.#exclusions = exclusions;
    this.#budget = budget;
  }

  charge(chars: number): void {
    this.#budget.remaining -= chars;
    if (this.#budget.remaining < 0) throw new ScanBudgetError();
  }

  /** A parameter value: JSON content is parsed (bounded by the validate stage's checks) and walked. */
  param(raw: string, location: Location, node: SchemaNode, array: boolean, json: boolean, pointer: string[], report: Report): void {
    if (json) {
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
      this.walk(value, node, pointer, report);
      return;
    }
    this.value(raw, location, pointer, array ? node.items.strings : node.strings, report);
  }

  /** A string value in `mode`. */
  value(text: string, location: Location, pointer: string[], mode: SchemaNode['strings'], report: Report): void {
    if (mode === 'skip' || text.length === 0) return;
    let scanned = text;
    const skip = this.#exclusions.length === 0 ? undefined : (hit: Hit) => this.#excluded(hit, pointer);
    if (mode === 'base64') {
      // The schema's `contentEncoding` is an annotation, not a check: a value that is not base64 reaches the
      // upstream as the text it is (and Buffer would silently drop its other characters), so scan it as text too.
      if (!isBase64(text)) {
        const raw = scanValue(this.#scanner, text, location, this.#budget, false, skip);
        if (raw) {
          this.found(raw, pointer, report);
          return;
        }
      }
      const decoded = Buffer.from(text, 'base64');
      scanned = decoded.toString('utf8');
    }
    const found = scanValue(this.#scanner, scanned, location, this.#budget, mode === 'url', skip);
    if (found) this.found(found, pointer, report);
  }

  found(hit: Hit, pointer: string[], report: Report): void {
    if (this.#excluded(hit, pointer)) return;
    report({ family: hit.family, rule: hit.rule, field: pointerText(pointer) });
  }

  /** Walks a parsed JSON or form value under its schema node; undeclared keys are scanned as text too. */
  walk(value: unknown, node: SchemaNode, pointer: string[], report: Report): void {
    if (typeof value === 'string') {
      this.value(value, 'body', pointer, node.strings, report);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        pointer.push(String(i));
        this.walk(value[i], node.prefixItems?.[i] ?? node.items, pointer, report);
        pointer.pop();
      }
      return;
    }
    for (const key of Object.keys(value)) {
      const declared = node.props?.get(key);
      pointer.push(key);
      if (declared === undefined) this.value(key, 'key', pointer, 'free', report);
      this.walk((value as Record<string, unknown>)[key], declared ?? node.additional, pointer, report);
      pointer.pop();
    }
  }

  #excluded(hit: Hit, pointer: readonly string[]): boolean {
    for (const e of this.#exclusions) {
      if (e.family !== undefined && e.family !== hit.family) continue;
      if (e.rule !== undefined && e.rule !== hit.rule) continue;
      if (e.field !== undefined && !prefixMatch(e.field, pointer)) continue;
      return true;
    }
    return false;
  }
}

/** Only base64 (or base64url) alphabet, padding and line-wrapping whitespace. */
function isBase64(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 61 || c === 45 || c === 95 || c === 10 || c === 13 || c === 32 || c === 9;
    if (!ok) return false;
  }
  return true;
}

function prefixMatch(pattern: readonly string[], pointer: readonly string[]): boolean {
  if (pattern.length > pointer.length) return false;
  for (let i = 0; i < pattern.length; i++) if (pattern[i] !== '*' && pattern[i] !== pointer[i]) return false;
  return true;
}

/** A pointer safe to log: client-chosen segments cut to {@link MAX_SEGMENT} characters, outside `[A-Za-z0-9_.$-]` replaced. */
export function pointerText(pointer: readonly string[]): string {
  let out = '';
  for (const segment of pointer.slice(0, 16)) {
    let clean = '';
    for (let i = 0; i < segment.length && i < MAX_SEGMENT; i++) {
      const c = segment.charCodeAt(i);
      const safe = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 || c === 36 || c === 45;
      clean += safe ? segment[i] : '_';
    }
    out += (out === '' ? '' : '/') + clean;
  }
  return out;
}

function emit(finding: Finding, ctx: RequestContext, at: { api: string; operationId: string; mode: string; logger: Logger; events: SecurityEvents | undefined }): void {
  const fields = { api: at.api, operation: at.operationId, family: finding.family, rule: finding.rule, field: finding.field, mode: at.mode };
  at.logger.warn({ requestId: ctx.id, ...fields }, at.mode === 'block' ? 'WAF hit: request blocked' : 'WAF hit (monitor mode)');
  at.events?.emit({ type: 'waf.hit', requestId: ctx.id, ip: ctx.clientIp, reason: finding.rule, fields });
}

