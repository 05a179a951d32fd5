const CEL = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const OPERATION_ID = { pattern: '^[A-Za-z0-9_.-]{1,128}$' } as const;

/** Attribute rules by operationId (config path `apis[].rules`). */
export const rulesSchema = {
  type: 'object',
  propertyNames: OPERATION_ID,
  additionalProperties: {
    ...CEL,
    description: 'A CEL expression over `request`, `identity` and `now` that must be true for the request to pass (else 403).',
  },
  default: {},
  description: 'CEL authorization rules by operationId; they add to `x-rampart-rule` in the spec (both must hold).',
} as const;

/** Object-level ownership rules by operationId (config path `apis[].owner_rules`). */
export const ownerRulesSchema = {
  type: 'object',
  propertyNames: OPERATION_ID,
  default: {},
  description:
    'Object-level authorization (BOLA) by operationId. A string is a CEL expression: checked on the response body when it mentions `response`, else on the request before proxying.',
  additionalProperties: {
    // A string (CEL shorthand) or an object (long form); one union type so the object form can carry defaults.
    type: ['string', 'object'],
    minLength: 1,
    maxLength: 4096,
    additionalProperties: false,
    minProperties: 1,
    description: 'A CEL expression (string shorthand) or an object with `request`, `response`, `filter`, `every`, `deny_status`.',
    properties: {
      request: { ...CEL, description: 'Checked before proxying over `request`, `identity`, `now`.' },
      response: { ...CEL, description: 'Checked on the buffered 2xx response over `response` (status, headers, body) too.' },
      filter: { ...CEL, description: 'For list responses: items for which this is false (over `item`) are removed.' },
      every: { ...CEL, description: 'For list responses: the whole response is denied if this is false for any `item`.' },
      deny_status: {
        enum: [403, 404],
        default: 404,
        description: 'Status of a denied object read: 404 (default, existence not leaked) or 403.',
      },
    },
  },
} as const;

/** Per-operation roles (config path `apis[].operations.<operationId>.roles`). */
export const rolesSchema = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 128 },
  uniqueItems: true,
  maxItems: 64,
  description: 'The caller needs at least one of these roles (function-level authorization); wins over `x-rampart-roles`.',
} as const;

/** Defaults of an owner lookup; the spec extension gets them from here too. */
export const OWNER_LOOKUP_DEFAULTS = { deny_status: 404, timeout_ms: 2000, cache_seconds: 5 } as const;

/**
 * A referenced-object ownership check (config path `apis[].operations.<operationId>.owner_lookup`, or
 * `x-rampart-owner-lookup` on the operation in the spec; the config wins).
 */
export const ownerLookupSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'operation', 'rule'],
  description:
    'Ownership of an object the request references (e.g. `body.accountId`): Rampart reads it from the upstream with the `operation` (a GET), as the caller, and `rule` must hold for it.',
  properties: {
    from: {
      type: 'string',
      pattern: '^(body(\\.[A-Za-z_$][A-Za-z0-9_$-]{0,127}){1,8}|(params|query)\\.[A-Za-z_$][A-Za-z0-9_.$-]{0,127})$',
      description: 'Where the referenced id is: `body.<field>[.<field>…]` (parsed JSON or form body), `params.<name>` (path) or `query.<name>`.',
    },
    operation: { type: 'string', ...OPERATION_ID, description: 'operationId of the GET operation (same spec) that reads the referenced object.' },
    param: { type: 'string', minLength: 1, maxLength: 128, description: 'Path parameter of `operation` that receives the id; default: its only path parameter.' },
    rule: { ...CEL, description: 'CEL over `object` (the looked-up JSON body), `request`, `identity`, `now`; false denies.' },
    deny_status: {
      enum: [403, 404],
      default: OWNER_LOOKUP_DEFAULTS.deny_status,
      description: 'Status when the object is missing, not visible to the caller (401/403/404/410 from the upstream) or fails `rule`.',
    },
    timeout_ms: {
      type: 'integer',
      minimum: 1,
      maximum: 30000,
      default: OWNER_LOOKUP_DEFAULTS.timeout_ms,
      description: 'Timeout of the whole lookup call, in milliseconds; then the request is denied (504).',
    },
    cache_seconds: {
      type: 'integer',
      minimum: 0,
      maximum: 60,
      default: OWNER_LOOKUP_DEFAULTS.cache_seconds,
      description: 'How long a looked-up object (or its absence) is reused for the same identity and id, in seconds; 0 disables.',
    },
  },
} as const;
