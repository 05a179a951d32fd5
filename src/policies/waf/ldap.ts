import { needleGroup } from './needles.ts';
import { isLetterCode, punctuationMask, skipSpaces, someOccurrence } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * LDAP filter injection: a value that closes the application's filter and opens its own (`*)(uid=*))(|(uid=*`,
 * `)(objectclass=*`), boolean filter operators (`(&(`, `(|(`, `(!(`), and extensible-match syntax
 * (`userPassword:2.5.13.18:=`).
 */

const hit = (rule: string): Hit => ({ family: 'ldap', rule });

const OPERATOR_GROUP = needleGroup(['(&(', '(|(', '(!(', '(& (', '(| (', ')(&)', ')(|)']);
const LDAP_TRIGGERS = punctuationMask('(=:');

export const detectLdap: Detector = (probe) => {
  const t = probe.lower;
  if (t.length < 4) return undefined;
  // `)(&)`, `)(|)`: the absolute true and false filters (RFC 4526) after the application's filter was closed.
  // Every LDAP shape below holds `(`, `=` or `:`.
  if ((probe.punct & LDAP_TRIGGERS) === 0) return undefined;
  if (probe.groups & OPERATOR_GROUP) return hit('ldap-filter-operator');
  if (t.includes('*)(') || t.includes('objectclass=')) return hit('ldap-filter-breakout');
  // `)(attr=`: a new filter component right after the application's one was closed.
  if (someOccurrence(t, ')(', (at) => attributeAssertion(t, at + 2), Number.MAX_SAFE_INTEGER)) return hit('ldap-filter-breakout');
  if (someOccurrence(t, ':=', (at) => extensibleMatch(t, at), Number.MAX_SAFE_INTEGER)) return hit('ldap-extensible-match');
  return undefined;
};

/** `attr=`, `attr~=`, `attr>=`, `attr<=` starting at `at` (after optional `&|!` and spaces). */
function attributeAssertion(t: string, at: number): boolean {
  let i = skipSpaces(t, at, 4);
  if (t[i] === '&' || t[i] === '|' || t[i] === '!') i = skipSpaces(t, i + 1, 4);
  const start = i;
  while (i < t.length && i - start < 64 && (isLetterCode(t.charCodeAt(i)) || t[i] === '-' || (i > start && t.charCodeAt(i) >= 48 && t.charCodeAt(i) <= 57))) i++;
  if (i === start) return false;
  if (t[i] === '~' || t[i] === '>' || t[i] === '<') i++;
  return t[i] === '=';
}

/** `attr:1.2.3:=` or `attr:dn:=` ending at the `:=` at `at`. */
function extensibleMatch(t: string, at: number): boolean {
  let i = at - 1;
  let digitsOrDots = 0;
  while (i >= 0 && at - i < 64 && ((t.charCodeAt(i) >= 48 && t.charCodeAt(i) <= 57) || t[i] === '.')) {
    i--;
    digitsOrDots++;
  }
  if (digitsOrDots > 0 && t[i] === ':') return isLetterCode(t.charCodeAt(i - 1));
  return t.slice(Math.max(0, at - 3), at) === ':dn';
}
