/** Lower-cased media type without parameters: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaTypeOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

/** Whether `type` is accepted by an allowlist that may hold `type/*` or `*\/*` entries. */
export function mediaTypeAllowed(allowed: ReadonlySet<string>, type: string): boolean {
  if (allowed.has(type) || allowed.has('*/*')) return true;
  const slash = type.indexOf('/');
  return slash > 0 && allowed.has(`${type.slice(0, slash)}/*`);
}

/** Whether a media type (lower-case, no parameters) is JSON: `application/json` or any `+json` suffix. */
export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}
