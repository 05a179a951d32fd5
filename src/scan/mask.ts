/**
 * Masking of evidence: what a report shows of a request or response never carries a credential, a session cookie,
 * an API key or a password hash. Masking is applied before bodies are cut to an excerpt.
 */

/** What a masked value is replaced with. */
export const MASK = '****';

/** Longest body excerpt a report keeps, in characters (after masking). */
export const EXCERPT_CHARS = 600;

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-auth-token', 'x-access-token', 'x-csrf-token', 'x-rampart-identity']);
const SECRET_HEADER_NAME = /(token|secret|api[-_]?key|session|password|signature)/i;
const SECRET_NAME = /(pass(word)?(hash)?|secret|token|api[-_]?key|private[-_]?key|credential|session|signature|hash)$/i;
const SECRET_QUERY = /^(access_token|id_token|refresh_token|token|api_key|apikey|key|password|secret|sig|signature|client_secret)$/i;

/** A JWT (three base64url parts, the first two JSON objects). */
const JWT = /eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
/** Password hash formats: modular crypt ($2b$, $argon2id$, $6$, $pbkdf2…), scrypt$N$…, pbkdf2_sha256$…. */
const PASSWORD_HASH = /(\$(2[abxy]?|5|6|argon2(id|i|d)?|pbkdf2[-_a-z0-9]*|scrypt)\$[^\s"']{8,}|\b(scrypt|pbkdf2_sha256|pbkdf2_sha512|bcrypt|sha256_crypt)\$[^\s"']{8,})/g;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g;

/** Whether a header carries a credential (by name). `extra` adds names, lower-case, e.g. an API key header. */
export function isSecretHeader(name: string, extra: ReadonlySet<string> = new Set()): boolean {
  const lower = name.toLowerCase();
  return SECRET_HEADERS.has(lower) || extra.has(lower) || SECRET_HEADER_NAME.test(lower);
}

function maskHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (lower === 'authorization' || lower === 'proxy-authorization') {
    const space = value.indexOf(' ');
    return space > 0 ? `${value.slice(0, space)} ${MASK}` : MASK;
  }
  if (lower === 'set-cookie' || lower === 'cookie') {
    // Keep cookie names and attributes (what a reader needs), drop the values.
    return value
      .split(lower === 'cookie' ? /;\s*/ : /\n/)
      .map((part) => part.replace(/^([^=;\s]+)=[^;]*/, `$1=${MASK}`))
      .join(lower === 'cookie' ? '; ' : '\n');
  }
  return MASK;
}

/** Headers with secret values masked; names are lower-cased, repeated values joined with ", " (Set-Cookie with "\n"). */
export function maskHeaders(headers: Readonly<Record<string, string | readonly string[] | undefined>>, extra: ReadonlySet<string> = new Set(), known: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawName, rawValue] of Object.entries(headers)) {
    if (rawValue === undefined) continue;
    const name = rawName.toLowerCase();
    const value = typeof rawValue === 'string' ? rawValue : rawValue.join(name === 'set-cookie' ? '\n' : ', ');
    out[name] = isSecretHeader(name, extra) ? maskHeaderValue(name, value) : maskText(value, known);
  }
  return out;
}

/** A path or URL with the values of credential-like query parameters masked. */
export function maskUrl(url: string, known: readonly string[] = []): string {
  const q = url.indexOf('?');
  if (q === -1) return maskText(url, known);
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // keep the raw name
      }
      return eq !== -1 && SECRET_QUERY.test(decoded) ? `${name}=${MASK}` : pair;
    })
    .join('&');
  return maskText(`${url.slice(0, q)}?${query}`, known);
}

/**
 * Text with secrets masked: JWTs, password hashes, private keys, the exact `known` secret values (the scan's own
 * credentials), and — when the text is JSON — every string value whose property name says it is a secret.
 */
export function maskText(text: string, known: readonly string[]): string {
  let out = text;
  for (const secret of known) if (secret.length >= 4) out = out.split(secret).join(MASK);
  out = out.replace(JWT, MASK).replace(PRIVATE_KEY, MASK).replace(PASSWORD_HASH, MASK);
  // JSON-ish "name": "value" pairs whose name is secret-like. Works on excerpts that are no longer valid JSON.
  out = out.replace(/"([A-Za-z0-9_.-]{1,64})"(\s*:\s*)"((?:[^"\\]|\\.)*)"/g, (whole, name: string, sep: string, value: string) =>
    SECRET_NAME.test(name) && value !== '' && value !== MASK ? `"${name}"${sep}"${MASK}"` : whole,
  );
  return out;
}

/** A masked excerpt of a body: masked first, then cut to {@link EXCERPT_CHARS} with an ellipsis marker. */
export function maskBody(body: string | undefined, known: readonly string[]): string | undefined {
  if (body === undefined || body === '') return undefined;
  const masked = maskText(body, known);
  return masked.length > EXCERPT_CHARS ? `${masked.slice(0, EXCERPT_CHARS)}… (${masked.length} chars)` : masked;
}

/** Masking bound to one scan: its credentials (exact values) and extra secret header names (API key headers). */
export interface Masker {
  headers(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Record<string, string>;
  url(url: string): string;
  body(body: string | undefined): string | undefined;
}

/** Builds the scan's {@link Masker}. */
export function createMasker(knownSecrets: readonly string[], secretHeaderNames: readonly string[]): Masker {
  const known = [...new Set(knownSecrets)].sort((a, b) => b.length - a.length);
  const extra = new Set(secretHeaderNames.map((n) => n.toLowerCase()));
  return {
    headers: (headers) => maskHeaders(headers, extra, known),
    url: (url) => maskUrl(url, known),
    body: (body) => maskBody(body, known),
  };
}
