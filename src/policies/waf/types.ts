/** The detector families of the WAF stage, in the order they run. `sqli` is src/policies/waf/sqli/. */
export const FAMILIES = ['sqli', 'nosql', 'cmd', 'traversal', 'ssrf', 'xss', 'ssti', 'ldap', 'xpath', 'crlf', 'log4shell', 'xxe'] as const;

export type Family = (typeof FAMILIES)[number];

/**
 * Where a scanned value came from. Single-line locations (`path`, `query`, `header`, `cookie`) end up in request
 * lines or headers upstream, so a line break there is itself an injection; `body`, `key` and `filename` may hold
 * multi-line text.
 */
export type Location = 'path' | 'query' | 'header' | 'cookie' | 'body' | 'key' | 'filename';

/** One decoded form of a value, as every detector sees it. */
export interface Probe {
  /** The text. */
  readonly text: string;
  /** `text` lower-cased (computed once per probe, shared by every detector). */
  readonly lower: string;
  /** Which ASCII punctuation `text` holds ({@link punctuationMask} in text.ts), to skip needles it cannot hold. */
  readonly punct: number;
  /** Which registered needle groups occur in `lower` ({@link groupsIn} in needles.ts). */
  readonly groups: number;
  readonly location: Location;
}

/** What a detector found: a stable rule id (bounded set, safe as a metric label) within its family. */
export interface Hit {
  readonly family: Family;
  readonly rule: string;
}

/**
 * A family's detector. Runs in time linear in `probe.text.length` (hand-written scanners, no backtracking regular
 * expressions), never throws, and only reports rules whose level is at most `paranoia` (1–4).
 */
export type Detector = (probe: Probe, paranoia: number) => Hit | undefined;
