import { groupsIn, needleGroup } from './needles.ts';
import { isWordCode, punctuationMask, someOccurrence } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * Path traversal and local file inclusion: `../` in every spelling the decoder produces (percent, double, overlong
 * UTF-8, `%u`, backslashes, `/./` padding, Tomcat `..;/`), Windows administrative shares, and sensitive file names
 * (`/etc/passwd`, `win.ini`, `boot.ini`, `.htaccess`, `/proc/self/environ`, private keys, `.git/`).
 */

const hit = (rule: string): Hit => ({ family: 'traversal', rule });

const SENSITIVE_NEEDLES = [
  'etc/passwd', 'etc/shadow', 'etc/group', 'etc/hosts', 'etc/issue', 'etc/hostname', 'etc/sudoers', 'etc/crontab', 'etc/os-release',
  'proc/self/', 'proc/version', 'proc/cmdline', 'proc/1/', 'win.ini', 'boot.ini', 'system.ini', 'windows/system32', 'winnt/system32',
  '.htaccess', '.htpasswd', 'web.config', 'web-inf/', 'meta-inf/', '.ssh/', 'id_rsa', 'id_ed25519', 'authorized_keys', '.bash_history',
  '.git/config', '.git/head', 'ntuser.dat', 'var/log/', 'var/run/secrets', 'c:/windows/', 'c:/boot', 'inetpub/wwwroot', 'php://filter',
  '.aws/credentials', '.docker/config', 'wp-config.php',
];
const SENSITIVE_GROUP = needleGroup(SENSITIVE_NEEDLES);
const DOLLAR = punctuationMask('$');


export const detectTraversal: Detector = (probe, paranoia) => {
  if (probe.lower.length < 3) return undefined;
  const t = pathForm(probe.lower);
  // Every dot-dot shape holds `..` (most text has none: one native search decides).
  if (t.includes('..')) {
    // "1.../2" is prose; "..../" is the filter-evasion form of "../".
    const dotdot = someOccurrence(t, '../', (at) => at === 0 || !(isWordCode(t.charCodeAt(at - 1)) || t.charCodeAt(at - 1) === 46), Number.MAX_SAFE_INTEGER);
    // `..././` is what a filter that strips `../` once leaves as `../` (pathForm has read it as `.../`).
    const stripped = someOccurrence(t, '.../', (at) => at === 0 || t.charCodeAt(at - 1) === 47);
    if (dotdot || stripped || t.includes('..;/') || t.includes('..../')) return hit('traversal-dot-dot');
  }
  // pathForm only removes quotes and backslashes, so the probe's mask less those still bounds what `t` holds.
  // No needle holds what pathForm removes, so one found in the probe is in `t` too; pathForm can only add some.
  const sensitive = (probe.groups & SENSITIVE_GROUP) !== 0 || (t !== probe.lower && (groupsIn(t) & SENSITIVE_GROUP) !== 0);
  if (sensitive) return hit('traversal-sensitive-file');
  if ((probe.punct & DOLLAR) !== 0 && (t.includes('c$/') || t.includes('admin$/') || t.includes('ipc$'))) return hit('traversal-unc-share');
  if (paranoia >= 2) {
    if (t === '..' || t.endsWith('/..')) return hit('traversal-dot-dot');
    if (t.includes('\u0000')) return hit('traversal-nul-byte');
  }
  return undefined;
}

/**
 * Backslashes as slashes, runs of slashes as one, `/./` dropped, quotes removed (`/et'c/pa'ss'wd`): the path a
 * file API would open. Linear; never longer than the input.
 */
export function pathForm(t: string): string {
  // Native passes: each is linear, and each repeat at least halves what it looks for (`////` → `//` → `/`).
  let out = t;
  if (out.includes("'") || out.includes('"')) out = out.replace(/['"]/g, '');
  if (out.includes('\\')) out = out.replaceAll('\\', '/');
  // Slash look-alikes that Windows' best-fit code-page conversion turns into `/` and `\\` (∕ ⁄ ⧸ ∖ ⧹): NFKC keeps them.
  if (/[\u2215\u2044\u29f8\u2216\u29f9]/.test(out)) out = out.replace(/[\u2215\u2044\u29f8\u2216\u29f9]/g, '/');
  for (let round = 0; round < 32 && (out.includes('//') || out.includes('/./')); round++) out = out.replaceAll('//', '/').replaceAll('/./', '/');
  return out;
}
