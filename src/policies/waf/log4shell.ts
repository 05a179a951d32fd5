import type { Detector, Hit } from './types.ts';

/**
 * Log4Shell-style lookups: `${jndi:ldap://…}` and the obfuscations Log4j itself resolves — nested lookups whose
 * default (`${::-j}`, `${env:X:-j}`), case (`${lower:J}`, `${upper:n}`) or date pattern (`${date:'d'}`) spell the
 * word — plus environment and system lookups used to exfiltrate secrets (`${env:AWS_SECRET_ACCESS_KEY}`): at
 * paranoia 1 when the value is the lookup, from 2 anywhere (configuration snippets in prose write `${env:NAME}` too).
 * Nested lookups are resolved innermost first by one pass with a stack, with bounded depth: linear.
 */

const hit = (rule: string): Hit => ({ family: 'log4shell', rule });

/** Lookups that read the host's secrets or state. */
const LOOKUPS = ['env:', 'sys:', 'java:', 'ctx:', 'main:', 'k8s:', 'docker:', 'spring:', 'base64:', 'log4j:', 'bundle:', 'sd:', 'web:', 'jvmrunargs:', 'marker:', 'event:', 'map:'];
const MAX_DEPTH = 16;

export const detectLog4shell: Detector = (probe, paranoia) => {
  const t = probe.lower;
  const first = t.indexOf('${');
  if (first === -1) return undefined;
  if (t.includes('${jndi')) return hit('log4shell-jndi');
  const resolved = resolveLookups(t, first);
  if (resolved.includes('${jndi') || resolved.includes('jndi:')) return hit('log4shell-jndi');
  if (t.includes('${::-') || t.includes('${lower:') || t.includes('${upper:') || t.includes(':-j}') || t.includes(':-n}') || t.includes(':-d}') || t.includes(':-i}')) return hit('log4shell-obfuscation');
  if (paranoia < 2 && t.trimStart().indexOf('${') !== 0) return undefined;
  for (const lookup of LOOKUPS) if (t.includes('${' + lookup)) return hit('log4shell-lookup');
  return undefined;
};

/**
 * Replaces each innermost `${…}` by what Log4j would resolve it to when it is an obfuscation (`:-` default, `lower:`,
 * `upper:`, `date:'x'`), keeping other lookups as `${…}`. One left-to-right pass: each `}` closes the innermost open
 * lookup, whose text is rewritten once.
 */
export function resolveLookups(t: string, from: number): string {
  const stack: string[] = [t.slice(0, from)];
  for (let i = from; i < t.length; i++) {
    if (t[i] === '$' && t[i + 1] === '{' && stack.length <= MAX_DEPTH) {
      stack.push('');
      i++;
      continue;
    }
    if (t[i] === '}' && stack.length > 1) {
      const inner = stack.pop()!;
      stack[stack.length - 1] += resolveOne(inner);
      continue;
    }
    stack[stack.length - 1] += t.charAt(i);
  }
  let out = stack[0]!;
  for (let k = 1; k < stack.length; k++) out += '${' + stack[k];
  return out;
}

function resolveOne(inner: string): string {
  const dflt = inner.indexOf(':-');
  if (dflt !== -1) return inner.slice(dflt + 2);
  if (inner.startsWith('lower:') || inner.startsWith('upper:')) return inner.slice(6);
  if (inner.startsWith('date:')) return inner.slice(5).replaceAll("'", '');
  return '${' + inner + '}';
}
