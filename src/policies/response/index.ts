import type { ValidateFunction } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { ApiConfig } from '../../config/types.ts';
import { GatewayError } from '../../problem.ts';
import type { EventStreamContract, RequestContext, ProxiedResponse, ResponsePolicy, PolicyBuildInput } from '../../pipeline/types.ts';
import { createOpenApiAjv } from '../../openapi/ajv.ts';
import { deriveResponseSchema } from '../../openapi/schemas.ts';
import { isJsonMediaType, mediaTypeOf } from '../../http/media.ts';
import { headerValue, jsonBodyOf, replaceJsonBody } from './json.ts';

/** What a masked value becomes. */
export const MASK = '****';

const perApi = new WeakMap<ApiConfig, Ajv2020>();

/**
 * Sensitive values found during the current (synchronous) validation, applied once it succeeds: masking while Ajv
 * still checks the value would make `format`/`pattern` fail on the mask.
 */
const pendingSensitive: { parent: Record<string | number, unknown>; key: string | number; action: string }[] = [];

/**
 * One Ajv per API for responses: `removeAdditional` strips what closed schemas do not declare, and the keyword
 * `x-rampart-sensitive` records values to mask (`mask`) or remove (`drop`).
 */
function ajvFor(api: ApiConfig): Ajv2020 {
  let ajv = perApi.get(api);
  if (!ajv) {
    ajv = createOpenApiAjv({ removeAdditional: true, extraKeywords: ['x-rampart-sensitive'] });
    ajv.addKeyword({
      keyword: 'x-rampart-sensitive',
      schemaType: 'string',
      errors: false,
      validate(action: string, _data: unknown, _schema?: unknown, cxt?: { parentData: unknown; parentDataProperty: string | number }) {
        if (cxt && cxt.parentData !== null && typeof cxt.parentData === 'object') {
          pendingSensitive.push({ parent: cxt.parentData as Record<string | number, unknown>, key: cxt.parentDataProperty, action });
        }
        return true;
      },
    });
    perApi.set(api, ajv);
  }
  return ajv;
}

/** Validates (removing undeclared properties) and then masks/drops the sensitive values Ajv found. */
function validateAndMinimise(validate: ValidateFunction, value: unknown): boolean {
  pendingSensitive.length = 0;
  try {
    if (!validate(value)) return false;
    for (const { parent, key, action } of pendingSensitive) {
      if (action === 'drop' && !Array.isArray(parent)) delete parent[key];
      else parent[key] = MASK;
    }
    return true;
  } finally {
    pendingSensitive.length = 0;
  }
}

interface MediaEntry {
  readonly json: boolean;
  readonly validate: ValidateFunction | undefined;
}

interface StatusEntry {
  /** Lower-case media type (may be `type/*` or `*\/*`) → validator. Empty = no body declared. */
  readonly media: ReadonlyMap<string, MediaEntry>;
}

/**
 * Response minimisation (DESIGN.md §3 stage 12) for one operation: the upstream status must be declared (exact,
 * `2XX`-style range, or `default`), its media type declared for that status, and JSON bodies must match the
 * declared schema, from which undeclared and `writeOnly` properties are removed and sensitive fields masked or
 * dropped. In `enforce` mode a non-conforming response becomes a generic 502; in `monitor` mode it is logged and
 * passed (still minimised when it validates). Bodies over `response.max_body_bytes` are not checked: blocked
 * (502) in `enforce` mode, passed unchanged and logged in `monitor` mode.
 * Returns undefined for passthrough routes and `mode: off`. Throws an Error naming the operation when a schema
 * cannot be compiled.
 */
export function createResponseContractPolicy(input: PolicyBuildInput): ResponsePolicy | undefined {
  const { operation, api } = input;
  const config = api.response;
  if (!operation || config.mode === 'off') return undefined;
  const ajv = ajvFor(api);
  const statuses = new Map<string, StatusEntry>();
  let events: ValidateFunction | 'unchecked' | undefined;
  for (const [status, response] of Object.entries(operation.responses)) {
    const media = new Map<string, MediaEntry>();
    for (const [type, content] of Object.entries(response.content ?? {})) {
      const lower = type.toLowerCase();
      if (lower === 'text/event-stream' && status.startsWith('2')) {
        // OpenAPI 3.2 names the schema of one event's data `itemSchema`; a 3.1 document puts it in `schema`.
        const item = (content as { itemSchema?: unknown }).itemSchema ?? content.schema;
        try {
          events = item ? ajv.compile(deriveResponseSchema(item as never, { sensitive: config.sensitive_fields }) as object) : 'unchecked';
        } catch (error) {
          throw new Error(`operation ${operation.operationId}: cannot compile the ${status} event schema: ${(error as Error).message}`, { cause: error });
        }
      }
      const json = isJsonMediaType(lower);
      let validate: ValidateFunction | undefined;
      if (json && content.schema) {
        try {
          validate = ajv.compile(deriveResponseSchema(content.schema, { sensitive: config.sensitive_fields }) as object);
        } catch (error) {
          throw new Error(`operation ${operation.operationId}: cannot compile the ${status} ${type} response schema: ${(error as Error).message}`, { cause: error });
        }
      }
      media.set(lower, { json, validate });
    }
    statuses.set(status.toUpperCase(), { media });
  }
  const monitor = config.mode === 'monitor';
  const maxBytes = config.max_body_bytes;
  const logger = input.services.logger;
  const operationId = operation.operationId;

  const violation = (ctx: RequestContext, reason: string): void => {
    ctx.notes.responseViolation = reason;
    if (!monitor) throw new GatewayError('upstream_invalid_response', `response contract: ${reason}`);
    logger.warn({ requestId: ctx.id, operationId, reason }, 'response does not match the contract (monitor mode)');
  };

  const eventValidator = events;
  const eventStream: EventStreamContract | undefined =
    eventValidator === undefined
      ? undefined
      : {
          monitor,
          maxEventBytes: Math.min(maxBytes, 1024 * 1024),
          ...(eventValidator === 'unchecked'
            ? {}
            : {
                check(data: unknown) {
                  if (validateAndMinimise(eventValidator, data)) return { ok: true as const, value: data };
                  const first = eventValidator.errors?.[0];
                  return { ok: false as const, reason: `event does not match the schema (${first?.keyword ?? '?'} at ${first?.instancePath || '/'})` };
                },
              }),
        };

  return {
    name: 'response-contract',
    stage: 'contract',
    needsBody: true,
    ...(eventStream ? { eventStream } : {}),
    run(ctx: RequestContext, response: ProxiedResponse): void {
      const status = String(response.status);
      const entry = statuses.get(status) ?? statuses.get(`${status[0]}XX`) ?? statuses.get('DEFAULT');
      if (!entry) return violation(ctx, `undeclared status ${status}`);
      const body = response.body;
      // Not checked, so not minimised: blocked in enforce mode, passed as sent (and logged) in monitor mode.
      if (body && body.length > maxBytes) return violation(ctx, `body over ${maxBytes} bytes`);
      // A HEAD was fetched upstream as GET (proxy/forward.ts): its body is checked like a GET's, then not sent.
      if (!body || body.length === 0) return;
      const type = mediaTypeOf(headerValue(response.headers['content-type'])) ?? '';
      const media = entry.media.get(type) ?? entry.media.get(`${type.split('/')[0]}/*`) ?? entry.media.get('*/*');
      if (!media) return violation(ctx, `undeclared media type ${type || '(none)'} for status ${status}`);
      if (!media.json || !media.validate) return;
      const parsed = jsonBodyOf(response);
      if (!parsed.ok) return violation(ctx, `body unreadable: ${parsed.reason}`);
      // jsonBodyOf decodes a compressed body: the cap applies to what is checked.
      if (response.body!.length > maxBytes) return violation(ctx, `body over ${maxBytes} bytes`);
      // Ajv removes undeclared properties in place while validating; sensitive values are masked after.
      if (!validateAndMinimise(media.validate, parsed.value)) {
        const first = media.validate.errors?.[0];
        return violation(ctx, `body does not match the schema (${first?.keyword ?? '?'} at ${first?.instancePath || '/'})`);
      }
      replaceJsonBody(response, parsed.value);
    },
  };
}
