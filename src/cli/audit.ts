import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.ts';
import { auditDataDir, openAuditDb } from '../audit/service.ts';
import { signingKeyFromPem, type SigningKey } from '../audit/signing.ts';
import { AuditStore } from '../audit/store.ts';
import { verifyChain } from '../audit/verify.ts';

const USAGE = `Usage: rampart audit <verify|tail|search|export> [-c rampart.yaml] [options]

  verify [--public-key file]     check the hash chain and signed checkpoints; exit 1 naming the first bad record
  tail [-n 20]                   the newest records (JSONL)
  search [--type T] [--text S] [--since ISO] [--until ISO] [--limit N]
  export [--since ISO] [--until ISO]   every record (JSONL), oldest first
`;

function keyFor(configFile: string, publicKey: string | undefined): SigningKey {
  if (publicKey) return signingKeyFromPem(readFileSync(publicKey, 'utf8'));
  const config = loadConfigFile(configFile).config.audit;
  if (config.signing_key) return signingKeyFromPem(config.signing_key);
  const path = join(auditDataDir(config, configFile), 'audit-signing.key');
  if (!existsSync(path)) throw new Error(`no audit signing key: set audit.signing_key or pass --public-key (looked for ${path})`);
  return signingKeyFromPem(readFileSync(path, 'utf8'));
}

/** `rampart audit …`: reads the audit store named by the config. Returns the exit code. */
export async function runAudit(configFile: string, args: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string', short: 'c' },
      'public-key': { type: 'string' },
      n: { type: 'string', short: 'n' },
      type: { type: 'string' },
      text: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
    },
    allowPositionals: true,
  });
  const sub = positionals[0];
  if (!sub || !['verify', 'tail', 'search', 'export'].includes(sub)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const file = values.config ?? configFile;
  const config = loadConfigFile(file).config;
  const db = await openAuditDb(config.audit, file);
  try {
    const store = new AuditStore(db, undefined);
    await store.init();
    const line = (value: unknown) => out.write(JSON.stringify(value) + '\n');
    switch (sub) {
      case 'verify': {
        const result = await verifyChain(store, keyFor(file, values['public-key']));
        line(result);
        if (!result.ok) process.stderr.write(`audit chain BROKEN at record ${result.firstBad!.seq}: ${result.firstBad!.reason}\n`);
        return result.ok ? 0 : 1;
      }
      case 'tail':
        for (const r of await store.tail(Math.min(10_000, Number(values.n ?? 20)))) line(r);
        return 0;
      case 'search':
        for (const r of await store.search({ type: values.type, text: values.text, since: values.since, until: values.until, limit: Math.min(100_000, Number(values.limit ?? 1000)) })) line(r);
        return 0;
      default: {
        let after = 0;
        for (;;) {
          const page = await store.page(after, 1000);
          if (page.length === 0) break;
          for (const r of page) if ((!values.since || r.time >= values.since) && (!values.until || r.time <= values.until)) line(r);
          after = page.at(-1)!.seq;
        }
        return 0;
      }
    }
  } finally {
    await db.close();
  }
}
