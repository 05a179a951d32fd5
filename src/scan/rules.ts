import { stringify } from 'yaml';
import type { OwaspCategory, Severity } from './types.ts';

/** One probe kind: what the SARIF report lists as a rule and the text report names. */
export interface Rule {
  readonly id: string;
  readonly category: OwaspCategory;
  readonly severity: Severity;
  /** Short name of the weakness. */
  readonly title: string;
  /** What the probe does and why a hit matters. */
  readonly help: string;
  /** How to fix it, ending with the Rampart config that blocks it. */
  readonly fix: string;
  /** The settings of an `apis[]` entry of rampart.yaml that block it, where a setting does (tests validate them). */
  readonly config?: Readonly<Record<string, unknown>>;
}

const rule = (id: string, category: OwaspCategory, severity: Severity, title: string, help: string, fix: string, config?: Record<string, unknown>): Rule => ({
  id,
  category,
  severity,
  title,
  help,
  fix: config ? `${fix} Rampart (in the API's entry of rampart.yaml): \`${stringify(config, { collectionStyle: 'flow', lineWidth: 0 }).trim()}\`.` : fix,
  ...(config ? { config } : {}),
});

const JWT_CONFIG = { auth: { jwt: { issuers: [{ issuer: 'https://idp.example.com', jwks_url: 'https://idp.example.com/jwks', audience: 'orders-api' }] } } };

const JWT_FIX =
  'Verify every token (signature against the issuer\'s JWKS, allowed algorithms, issuer, audience, expiry) before the API sees it. With Rampart in front, operations whose OpenAPI `security` is not `[]` refuse requests without a valid token (401).';

/** Every rule the scanner can report, by id. */
export const RULES: Readonly<Record<string, Rule>> = Object.fromEntries(
  [
    rule('api1.bola-read', 'API1:2023', 'high', 'Another identity\'s object is readable', 'An object that belongs to one scan identity (its owner field names it, or it created it) was read with another identity\'s credentials.', 'Check ownership on every object access. Rampart answers 404 when an ownership rule fails (existence is not leaked).', { owner_rules: { getOrder: 'response.body.ownerId == identity.subject' } }),
    rule('api1.bola-write', 'API1:2023', 'high', 'Another identity\'s object can be changed or deleted', 'An object another scan identity created during the scan was changed or deleted with this identity\'s credentials (`--profile full` only; only the scan\'s own seed objects are targeted).', 'Check ownership on every write. Rampart can look the object up as the caller before a write and refuse it (404) when the rule fails: `x-rampart-owner-lookup` on the operation in the spec (docs/authorization.md).'),
    rule('api1.bola-create', 'API1:2023', 'high', 'An object was created on another identity\'s object', 'A create operation accepted, in its body, the id of an object that belongs to another scan identity (e.g. an order on someone else\'s account). `--profile full` only.', 'Check that every id in a request body is the caller\'s. Rampart: `x-rampart-owner-lookup: { from: body.accountId, operation: getAccount, rule: … }` on the operation in the spec reads the object as the caller and refuses the write (404) when the rule fails (docs/authorization.md).'),
    rule('api1.bola-list', 'API1:2023', 'high', 'A list returns other identities\' objects', 'A list operation called by one identity returned objects whose owner or tenant field names another scan identity in another tenant.', 'Filter lists by owner or tenant. Rampart drops list items the filter rule refuses.', { owner_rules: { listAccounts: { filter: 'item.tenantId == identity.tenant' } } }),
    rule('api2.no-credential', 'API2:2023', 'high', 'Operation that requires credentials answers without any', 'The operation\'s OpenAPI `security` requires credentials, yet a request without any was answered with 2xx.', JWT_FIX, JWT_CONFIG),
    rule('api2.malformed-token', 'API2:2023', 'high', 'Malformed bearer token accepted', 'A bearer value that is not a token at all was answered with 2xx.', JWT_FIX, JWT_CONFIG),
    rule('api2.alg-none', 'API2:2023', 'critical', 'Unsigned token (alg: none) accepted', 'The identity\'s token re-encoded with `alg: none` and no signature was answered with 2xx: anyone can mint identities.', `${JWT_FIX} Rampart never accepts \`none\`.`, JWT_CONFIG),
    rule('api2.wrong-key', 'API2:2023', 'critical', 'Token signed with an unknown key accepted', 'The identity\'s claims signed with a key the scanner generated were answered with 2xx: signatures are not verified.', JWT_FIX, JWT_CONFIG),
    rule('api2.expired-token', 'API2:2023', 'high', 'Expired (tampered) token accepted', 'The identity\'s token with `exp` moved into the past (signature left as it was, so it no longer matches) was answered with 2xx.', JWT_FIX, JWT_CONFIG),
    rule('api2.key-confusion', 'API2:2023', 'critical', 'Token signed HS256 with the public key accepted (algorithm confusion)', 'The identity\'s claims signed with HS256, the API\'s own public key (PEM text) as the HMAC secret, were answered with 2xx: the verifier takes the algorithm from the token.', `${JWT_FIX} Rampart pins the algorithms per key type and never uses a public key as an HMAC secret.`, JWT_CONFIG),
    rule('api2.weak-hmac-secret', 'API2:2023', 'critical', 'Token signed with a guessable HMAC secret', 'An identity\'s HS256/384/512 token verifies with one of the common secrets of the scanner\'s bounded wordlist (checked offline): anyone can mint tokens.', 'Sign with a random secret of at least 32 bytes, or an asymmetric key. Rampart refuses literal secrets in its config (`${env:}`/`${file:}` references only) and generates its own HMAC keys.'),
    rule('api2.token-in-query', 'API2:2023', 'medium', 'Token accepted in the URL', 'The identity\'s credential sent as `?access_token=` (no Authorization header) was accepted: URLs end up in logs, histories and Referer headers.', 'Accept credentials in headers only. Rampart reads bearer tokens from `Authorization` and API keys from their declared header; a token in the query is not a credential there (the strict query validation also refuses undeclared parameters).'),
    rule('api2.login-no-lockout', 'API2:2023', 'medium', 'Login without brute-force protection', 'Repeated failed logins for one account were all answered the same way: no 429, no lockout, no slowdown (password guessing and credential stuffing go unthrottled).', 'Throttle and lock out failed logins per account and IP. Rampart: mark the operation `x-rampart-login: { account_field: username }` in the spec (progressive delays, lockout after repeated failures) and add a per-IP rate limit on it.', { rate_limits: [{ name: 'login-ip', key: 'ip', algorithm: 'sliding_window', limit: '10/min', operations: ['login'] }] }),
    rule('api3.undeclared-fields', 'API3:2023', 'medium', 'Response carries properties the contract does not declare', 'A JSON response has properties its OpenAPI response schema does not declare (internal fields leaking).', 'Return only what the contract declares. Rampart\'s response stage removes undeclared and `writeOnly` properties from JSON responses (enforce is the default; docs/response.md).', { response: { mode: 'enforce' } }),
    rule('api3.secret-exposure', 'API3:2023', 'high', 'Secrets or password hashes in a response', 'A response contains a password hash, a private key, or a property whose name says it is a secret.', 'Never serialise secrets. Rampart strips undeclared properties and masks fields marked `x-rampart-sensitive: mask` in the spec.', { response: { mode: 'enforce', sensitive_fields: { tenantSecret: 'drop' } } }),
    rule('api3.mass-assignment', 'API3:2023', 'high', 'Read-only properties accepted on write (mass assignment)', 'A write operation accepted and applied properties the spec marks `readOnly` (e.g. role, isAdmin) on the identity\'s own object.', 'Ignore or refuse read-only properties on writes. Rampart\'s request validation refuses `readOnly` properties in request bodies (400) by default.'),
    rule('api4.no-rate-limit', 'API4:2023', 'medium', 'No rate limit', 'A bounded burst of identical requests was answered without a single 429.', 'Limit request rates per client and consumer.', { rate_limits: [{ name: 'per-consumer', key: 'consumer', algorithm: 'token_bucket', rate: '50/s', burst: 100 }, { name: 'per-ip', key: 'ip', algorithm: 'sliding_window', limit: '1000/min' }] }),
    rule('api4.page-size', 'API4:2023', 'low', 'Page size above the declared maximum accepted', 'A paging parameter above the `maximum` its schema declares was answered with 2xx.', 'Enforce paging caps. Rampart\'s request validation refuses query values outside the declared schema (400).'),
    rule('api5.admin-operation', 'API5:2023', 'high', 'Privileged operation callable by a non-privileged identity', 'An operation the spec reserves for a role (`x-rampart-roles`, an admin scope, or an admin path) answered 2xx to an identity without that role.', 'Check roles and scopes per operation. Rampart: `x-rampart-roles: [admin]` on the operation and scopes in its `security` (403 insufficient_scope otherwise).'),
    rule('api5.method-override', 'API5:2023', 'medium', 'X-HTTP-Method-Override honoured', 'A request with a method the path does not declare, carrying `X-HTTP-Method-Override`, was answered as the overridden method.', 'Do not honour method-override headers. Rampart strips `X-HTTP-Method-Override` and answers undeclared methods with 405.'),
    rule('api7.ssrf', 'API7:2023', 'high', 'Server-side request to a URL from the request', 'A URL-typed parameter pointed at the scanner\'s loopback canary made the server request it.', 'Allow outbound URLs from a list. Rampart\'s WAF scans URL-typed free-text fields for SSRF targets (loopback, link-local, metadata addresses).'),
    rule('api8.missing-security-headers', 'API8:2023', 'low', 'Security headers missing', 'A response lacks headers that stop content sniffing, framing and caching of authenticated data.', 'Send `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` on authenticated responses and a restrictive CSP. Rampart adds them to every response (docs/headers-and-cors.md).'),
    rule('api8.cors-any-origin', 'API8:2023', 'high', 'CORS reflects any origin with credentials', 'An arbitrary `Origin` was echoed in `Access-Control-Allow-Origin` with `Access-Control-Allow-Credentials: true`.', 'Allow only known origins. Rampart gives other origins no CORS headers.', { cors: { allow_origins: ['https://app.example.com'], allow_credentials: true } }),
    rule('api8.verbose-errors', 'API8:2023', 'medium', 'Verbose error responses', 'An error response carries a stack trace, internal paths, the route list or runtime versions.', 'Answer errors with a generic body. Rampart answers its own errors with RFC 9457 problem documents and strips undeclared properties from the upstream\'s error bodies.'),
    rule('api8.banner', 'API8:2023', 'low', 'Server banners', '`Server` or `X-Powered-By` names the software and version.', 'Remove banners. Rampart removes `Server` and `X-Powered-By` from every response.'),
    rule('api8.legacy-tls', 'API8:2023', 'medium', 'Legacy TLS versions accepted', 'A TLS 1.0 or 1.1 handshake with the target succeeded (deprecated by RFC 8996: weak ciphers and downgrade attacks).', 'Accept TLS 1.2 and 1.3 only. Rampart\'s listeners accept TLS 1.2 at least and prefer 1.3 (docs/tls.md).'),
    rule('api8.trace-enabled', 'API8:2023', 'low', 'TRACE method answered', 'A TRACE request was answered with 2xx (cross-site tracing, header echo).', 'Answer undeclared methods with 405. Rampart routes only the methods the spec declares.'),
    rule('api8.path-traversal', 'API8:2023', 'high', 'Encoded dot-segments resolved', 'A path with `%2e%2e` segments reached another route: access rules keyed on paths can be bypassed.', 'Refuse encoded traversal. Rampart\'s normalise stage refuses `%2e%2e`, double encoding and NUL (400 invalid_path).'),
    rule('api9.undocumented-path', 'API9:2023', 'medium', 'Undocumented path answers', 'A path the spec does not document (debug, admin, other API versions) answered 2xx.', 'Retire or document every path. Rampart routes only documented operations (positive security model: 404 otherwise).'),
    rule('api10.sql-injection', 'API10:2023', 'critical', 'SQL injection', 'A quote broke the query (a database error or a 5xx), or a boolean payload changed the result set compared with its negation.', 'Use parameterised queries. Rampart\'s WAF detects SQL injection in the free-text fields the contract leaves unconstrained (docs/waf.md); it cannot stop a lone quote that breaks a naive query, which only the fix does.', { waf: { mode: 'block' } }),
    rule('api10.nosql-injection', 'API10:2023', 'high', 'NoSQL operator injection', 'A search body with an operator object (`{"$ne": null}`) where the schema says string returned more results than a value that matches nothing: the value is interpreted as a query operator.', 'Check types before querying (a string is a string). Rampart\'s request validation refuses a value whose type the schema does not allow (400), and its WAF looks for NoSQL operators in free-text fields.'),
  ].map((r) => [r.id, r]),
);

/** The rule with `id`; throws for an unknown id (a programming error). */
export function ruleOf(id: string): Rule {
  const found = RULES[id];
  if (!found) throw new Error(`unknown scan rule ${id}`);
  return found;
}
