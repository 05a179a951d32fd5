/**
 * RFC 9421 covered components and the signature base. Component identifiers are structured-field items
 * (`structured-headers`); the base is assembled by the `http-message-signatures` library (field values raw or with
 * `sf`/`key`/`bs`, identifier serialisation, line format), which passes the RFC's appendix B vectors. The derived
 * components are computed here, from the request as the gateway received it (or as it sends it upstream), so the
 * library never parses a URL of its own.
 */
import { httpbis } from 'http-message-signatures';
import { isInnerList, parseDictionary, parseItem, parseList, serializeDictionary, serializeInnerList, serializeItem, serializeList, type Dictionary, type InnerList, type Item } from 'structured-headers';

/** Derived components a request signature may cover (RFC 9421 §2.2; `@status` is for responses). */
const DERIVED = new Set(['@method', '@target-uri', '@authority', '@scheme', '@request-target', '@path', '@query', '@query-param']);
/** Field name syntax (RFC 9110 token), lower case as RFC 9421 §2.1 requires. */
const FIELD_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** Most components one signature may cover. */
export const MAX_COMPONENTS = 32;

/** Why a component identifier or a signature base could not be built; the message never carries request data. */
export class ComponentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ComponentError';
  }
}

/** A checked component identifier: its name, and its serialisation (what equality and the base use). */
export interface Component {
  readonly name: string;
  readonly id: string;
  readonly item: Item;
}

/**
 * Checks one component identifier (an sf-item: a string with parameters) as a request signature may use it:
 * a known derived component, or a lower-case field name; parameters only those this verifier implements
 * (`name` on `@query-param`; `sf`, `key`, `bs` on fields, `bs` never with the others). `req` and `tr` are refused:
 * there is no related request, and trailers are not read.
 * @throws ComponentError naming the identifier's problem.
 */
export function checkComponent(item: Item): Component {
  const [name, params] = item;
  if (typeof name !== 'string') throw new ComponentError('a covered component is not a string');
  if (name.startsWith('@')) {
    if (!DERIVED.has(name)) throw new ComponentError(`unsupported derived component ${JSON.stringify(name.slice(0, 40))}`);
    for (const [key, value] of params) {
      if (name !== '@query-param' || key !== 'name' || typeof value !== 'string') throw new ComponentError(`unsupported parameter ${key} on ${name}`);
    }
    if (name === '@query-param' && !params.has('name')) throw new ComponentError('@query-param without a name parameter');
  } else {
    if (!FIELD_NAME.test(name)) throw new ComponentError('a covered field name is not a lower-case token');
    for (const [key, value] of params) {
      if (key === 'sf' || key === 'bs') {
        if (value !== true) throw new ComponentError(`parameter ${key} must be boolean true`);
      } else if (key === 'key') {
        if (typeof value !== 'string') throw new ComponentError('parameter key must be a string');
      } else {
        throw new ComponentError(`unsupported parameter ${key} on a field`);
      }
    }
    if (params.has('bs') && (params.has('sf') || params.has('key'))) throw new ComponentError('bs together with sf or key');
  }
  return { name, id: serializeItem(item), item };
}

/**
 * Parses a component identifier written in config (`@method`, `content-digest`, `"@query-param";name="id"`; the
 * quotes may be left out) into its checked form.
 * @throws ComponentError when it is not a valid identifier.
 */
export function parseComponent(text: string): Component {
  const quoted = text.startsWith('"') ? text : text.replace(/^([^;]+)/, '"$1"');
  let item: Item;
  try {
    item = parseItem(quoted);
  } catch (error) {
    throw new ComponentError(`${JSON.stringify(text)} is not a component identifier`, { cause: error });
  }
  return checkComponent(item);
}

/**
 * The covered components of a Signature-Input member: an inner list of at most 32 distinct checked identifiers,
 * none of them `@signature-params`.
 * @throws ComponentError otherwise.
 */
export function coveredComponents(member: InnerList | Item): Component[] {
  if (!Array.isArray(member[0])) throw new ComponentError('Signature-Input member is not an inner list');
  const items = member[0] as Item[];
  if (items.length > MAX_COMPONENTS) throw new ComponentError(`more than ${MAX_COMPONENTS} covered components`);
  const seen = new Set<string>();
  const out: Component[] = [];
  for (const item of items) {
    if (item[0] === '@signature-params') throw new ComponentError('@signature-params listed as a covered component');
    const component = checkComponent(item);
    if (seen.has(component.id)) throw new ComponentError('a covered component is listed twice');
    seen.add(component.id);
    out.push(component);
  }
  return out;
}

/** The message a signature base is built from: derived values and the field lines by lower-case name. */
export interface SignedMessage {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** Host (and port when not the scheme's default), lower case. */
  readonly authority: string;
  /** The request target in origin form: path and query as sent (`/foo?a=1`). */
  readonly target: string;
  /** Field lines by lower-case name, each line's value separately (RFC 9421 §2.1 combines them). */
  readonly headers: Readonly<Record<string, string[]>>;
}

/** The authority as RFC 9421 §2.2.3 wants it: lower case, without the scheme's default port. */
export function normaliseAuthority(host: string, scheme: 'http' | 'https'): string {
  const lower = host.trim().toLowerCase();
  const port = scheme === 'https' ? ':443' : ':80';
  return lower.endsWith(port) ? lower.slice(0, -port.length) : lower;
}

/**
 * application/x-www-form-urlencoded percent-encoding (WHATWG URL §5.2), with spaces as %20 (RFC 9421 §2.2.8):
 * encodeURIComponent's, plus `!'()~`. Without a URLSearchParams per value: a long query must not cost one each.
 */
function formEncode(value: string): string {
  try {
    return encodeURIComponent(value).replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    // A lone surrogate (never in a decoded query value): the serialiser's replacement character.
    return new URLSearchParams([['', value]]).toString().slice(1).replaceAll('+', '%20');
  }
}

/**
 * What the components of one signature base share, read on first use: the query's parameters (names encoded) and
 * the structured fields as parsed. Up to 32 components can cover one long query or one big field; each is read
 * once per base, not once per component (a client could otherwise make every request cost 32 parses).
 */
interface Sources {
  query?: readonly (readonly [name: string, value: string])[];
  readonly fields: Map<string, StructuredField>;
}

/**
 * A covered field's combined value and its parses, each made once: `sf` (RFC 9421 §2.1.1; List, else Dictionary,
 * else Item, the order the library used) and `key` (§2.1.2; a Dictionary).
 */
interface StructuredField {
  readonly value: string;
  sf?: string;
  dictionary?: Dictionary;
}

function derive(message: SignedMessage, name: string, params: Map<string, string | number | boolean>, sources: Sources): string[] {
  const q = message.target.indexOf('?');
  const path = q === -1 ? message.target : message.target.slice(0, q);
  const query = q === -1 ? '' : message.target.slice(q + 1);
  switch (name) {
    case '@method':
      return [message.method];
    case '@target-uri':
      return [`${message.scheme}://${message.authority}${message.target}`];
    case '@authority':
      return [message.authority];
    case '@scheme':
      return [message.scheme];
    case '@request-target':
      return [message.target];
    case '@path':
      return [path === '' ? '/' : path];
    case '@query':
      return [`?${query}`];
    case '@query-param': {
      const wanted = String(params.get('name'));
      sources.query ??= Array.from(new URLSearchParams(query), ([key, value]) => [formEncode(key), value] as const);
      const values: string[] = [];
      for (const [key, value] of sources.query) if (key === wanted) values.push(formEncode(value));
      if (values.length === 0) throw new ComponentError('a covered query parameter is not in the request');
      return values;
    }
    default:
      throw new ComponentError('unsupported derived component');
  }
}

/** A covered field with `sf` or `key` (RFC 9421 §2.1.1, §2.1.2): its lines combined, parsed once per base. */
function structuredField(message: SignedMessage, name: string, params: Map<string, string | number | boolean>, sources: Sources): string[] {
  let field = sources.fields.get(name);
  if (field === undefined) {
    const lines = message.headers[name];
    if (lines === undefined) throw new ComponentError('a covered field is not in the request');
    field = { value: lines.join(', ') };
    sources.fields.set(name, field);
  }
  const key = params.get('key');
  if (key !== undefined) {
    try {
      field.dictionary ??= parseDictionary(field.value);
    } catch (error) {
      throw new ComponentError('a field covered with key is not a dictionary', { cause: error });
    }
    const member = field.dictionary.get(String(key));
    if (member === undefined) throw new ComponentError('a covered dictionary key is not in the field');
    return [isInnerList(member) ? serializeInnerList(member) : serializeItem(member)];
  }
  field.sf ??= serializeStructured(field.value);
  return [field.sf];
}

function serializeStructured(value: string): string {
  for (const serialize of [() => serializeList(parseList(value)), () => serializeDictionary(parseDictionary(value)), () => serializeItem(parseItem(value))]) {
    try {
      return serialize();
    } catch {
      continue;
    }
  }
  throw new ComponentError('a field covered with sf is not a structured field');
}

/**
 * The signature base (RFC 9421 §2.5) of `message` over `components`, ending with the `@signature-params` line of
 * `signatureParams` (the Signature-Input member, serialised as received). Each source (the query, a structured
 * field) is read once, whatever the number of components over it.
 * @throws ComponentError when a covered component is absent from the message or cannot be derived.
 */
export function signatureBase(message: SignedMessage, components: readonly Component[], signatureParams: InnerList): string {
  let base: [string, string[]][];
  const sources: Sources = { fields: new Map() };
  try {
    base = httpbis.createSignatureBase(
      {
        fields: components.map((c) => c.id),
        componentParser: (name, params) => {
          if (name.startsWith('@')) return derive(message, name, params, sources);
          // Plain and `bs` fields are the library's: a field is read so at most twice (duplicates are refused).
          return params.has('key') || params.has('sf') ? structuredField(message, name, params, sources) : null;
        },
      },
      { method: message.method, url: `${message.scheme}://${message.authority}${message.target}`, headers: message.headers },
    );
  } catch (error) {
    if (error instanceof ComponentError) throw error;
    // The library's messages name fields and keys only (a missing header, an unparsable structured field).
    throw new ComponentError(`signature base: ${(error as Error).message.slice(0, 120)}`, { cause: error });
  }
  base.push(['"@signature-params"', [serializeInnerList(signatureParams)]]);
  return httpbis.formatSignatureBase(base);
}

/** The field lines of a request from its raw headers (pseudo-headers left out), by lower-case name. */
export function fieldLines(rawHeaders: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name.startsWith(':')) continue;
    (out[name] ??= []).push(rawHeaders[i + 1]!);
  }
  return out;
}
