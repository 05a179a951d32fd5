/**
 * Cookies the gateway itself sets for its own listeners (the admin dashboard's session). Browsers send a host's
 * cookies to every port of it, so the data plane must neither pass them to an upstream (which would then hold an
 * admin session) nor let an upstream set one (which would plant a session in the operator's browser).
 */
export const ADMIN_SESSION_COOKIE = 'rampart_admin_session';

const OWNED = new Set([ADMIN_SESSION_COOKIE.toLowerCase()]);

function owned(pair: string): boolean {
  const eq = pair.indexOf('=');
  return OWNED.has((eq === -1 ? pair : pair.slice(0, eq)).trim().toLowerCase());
}

/** The Cookie header without the gateway's own cookies (any letter case); undefined when none is left. */
export function withoutGatewayCookies(header: string | string[]): string | undefined {
  const pairs = (Array.isArray(header) ? header : [header]).flatMap((h) => h.split(';')).filter((p) => p.trim() !== '' && !owned(p));
  return pairs.length === 0 ? undefined : pairs.map((p) => p.trim()).join('; ');
}

/** Whether a Set-Cookie value would set one of the gateway's own cookies. */
export function setsGatewayCookie(setCookie: string): boolean {
  const semi = setCookie.indexOf(';');
  return owned(semi === -1 ? setCookie : setCookie.slice(0, semi));
}
