import type { Family } from './types.ts';

const familyFlag = (what: string) => ({ type: 'boolean', default: true, description: `Detect ${what}.` }) as const;

/** `apis[].waf`: the injection-detection stage (DESIGN.md §3 stage 10) and outbound leak detection. */
export const wafSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Injection detection on the free-text values the contract leaves unconstrained (see docs/waf.md). On by default in `block` mode at paranoia 1.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Run the WAF stage on this API.' },
    mode: {
      enum: ['block', 'monitor'],
      default: 'block',
      description: '`block` answers 403 `injection_detected` (and replaces leaking responses with 502); `monitor` only logs, counts and emits events.',
    },
    paranoia: {
      type: 'integer',
      minimum: 1,
      maximum: 4,
      default: 1,
      description: 'Rule level: 1 flags only what ordinary text does not look like; 2–4 add broader rules (more detection, more false positives).',
    },
    short_string_max_length: {
      type: 'integer',
      minimum: 0,
      maximum: 1024,
      default: 8,
      description: 'Strings whose schema `maxLength` is at most this many characters are treated as constrained and not scanned (0 scans every string).',
    },
    headers: {
      type: 'array',
      maxItems: 64,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' },
      default: ['user-agent', 'referer'],
      description: 'Request headers always scanned (case-insensitive), besides the header parameters the spec declares as free text.',
    },
    max_scan_chars: {
      type: 'integer',
      minimum: 1024,
      maximum: 268435456,
      default: 4194304,
      description: 'Most characters (all decoded forms of all values) one request may have scanned; past it the request is refused in `block` mode (fail closed).',
    },
    families: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Detector families, each on by default.',
      properties: {
        sqli: familyFlag('SQL injection'),
        nosql: familyFlag('NoSQL operator injection'),
        cmd: familyFlag('OS command injection'),
        traversal: familyFlag('path traversal and local file inclusion'),
        ssrf: familyFlag('SSRF and remote file inclusion targets'),
        xss: familyFlag('cross-site scripting'),
        ssti: familyFlag('server-side template injection'),
        ldap: familyFlag('LDAP filter injection'),
        xpath: familyFlag('XPath injection'),
        crlf: familyFlag('CRLF, header and mail header injection'),
        log4shell: familyFlag('Log4Shell-style `${jndi:…}` lookups'),
        xxe: familyFlag('XML external entities (and any DOCTYPE in XML request bodies)'),
      },
    },
    exclusions: {
      type: 'array',
      maxItems: 1000,
      default: [],
      description: 'Hits to ignore. Each entry matches when all of its given keys match; give at least one of `field`, `family`, `rule`.',
      items: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: {
          operation: { type: 'string', pattern: '^[A-Za-z0-9_.:/{}-]{1,128}$', description: 'operationId the exclusion is limited to (default: every operation).' },
          field: {
            type: 'string',
            pattern: '^(path|query|header|cookie|body)(/[^/]{1,128})*$',
            maxLength: 512,
            description: 'Field pointer as hits report it (`query/q`, `body/comment`, `body/items/*/note`; `*` matches one segment); matches the field and everything under it.',
          },
          family: { enum: ['sqli', 'nosql', 'cmd', 'traversal', 'ssrf', 'xss', 'ssti', 'ldap', 'xpath', 'crlf', 'log4shell', 'xxe'], description: 'Detector family.' },
          rule: { type: 'string', pattern: '^[a-z0-9_.-]{1,64}$', description: 'Rule id as hits report it (e.g. `xss-event-handler`, `sqli.union`).' },
        },
      },
    },
    leaks: {
      type: 'boolean',
      default: true,
      description:
        'Outbound leak detection on responses the contract does not fully describe (no schema, or passthrough): SQL errors, stack traces, debug pages, private keys and cloud credentials. Buffers those responses.',
    },
  },
} as const;

/** `apis[].waf` after defaults. */
export interface WafConfig {
  readonly enabled: boolean;
  readonly mode: 'block' | 'monitor';
  readonly paranoia: number;
  readonly short_string_max_length: number;
  readonly headers: readonly string[];
  readonly max_scan_chars: number;
  readonly families: Readonly<Record<Family, boolean>>;
  readonly exclusions: readonly WafExclusion[];
  readonly leaks: boolean;
}

/** One `apis[].waf.exclusions[]` entry. */
export interface WafExclusion {
  readonly operation?: string;
  readonly field?: string;
  readonly family?: Family;
  readonly rule?: string;
}

