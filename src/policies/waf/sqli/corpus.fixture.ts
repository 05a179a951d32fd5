/**
 * Test and benchmark fixture: the SQL injection payloads of the shared WAF corpus (../shared/waf beside the
 * checkout), grouped by source file. Percent-encoding is decoded once, as the WAF stage does before detection.
 * Not imported by the gateway.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** Root of the shared corpus, or undefined when it is not beside the checkout. */
export const SHARED_WAF = fileURLToPath(new URL('../../../../../shared/waf/', import.meta.url));

/** Decodes `%XX` escapes once; anything else is kept as written. */
export function percentDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < s.length && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function walk(dir: string, out: string[]): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** One source file's payloads (decoded). */
export interface PayloadGroup {
  readonly file: string;
  readonly payloads: readonly string[];
}

/**
 * The SQL injection payload groups: payloadbox-sqli/Intruder/**\/*.txt except the NoSQL list, and the gotestwaf
 * test cases whose type is SQL injection. Empty lines and the lists' own `# ` comment lines are left out.
 */
export function loadSqliCorpus(root = SHARED_WAF): PayloadGroup[] {
  if (!existsSync(root)) return [];
  const groups: PayloadGroup[] = [];
  for (const file of walk(join(root, 'payloadbox-sqli', 'Intruder'), []).sort()) {
    if (!file.endsWith('.txt') || /nosql/i.test(file)) continue;
    const payloads = readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .filter((line) => line.trim() !== '' && !line.startsWith('# '))
      .map(percentDecode);
    groups.push({ file: relative(root, file), payloads });
  }
  for (const file of walk(join(root, 'gotestwaf', 'testcases'), []).sort()) {
    if (!file.endsWith('.yml')) continue;
    const doc = parse(readFileSync(file, 'utf8').replaceAll("\\'", "'")) as { type?: string; payload?: unknown[] };
    if (!/sql injection/i.test(doc.type ?? '') || /nosql/i.test(doc.type ?? '')) continue;
    const payloads = (doc.payload ?? []).map((p) => percentDecode(String(p)));
    groups.push({ file: relative(root, file), payloads });
  }
  return groups;
}
