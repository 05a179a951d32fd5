#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runCheck } from './check.ts';
import { runAudit } from './audit.ts';
import { runIncidents } from './incidents.ts';
import { runConsumers, runKeys } from './keys.ts';
import { parseWorkers, runStart } from './start.ts';

const USAGE = `Usage: rampart <command> [options]

Commands:
  start   -c rampart.yaml    run the gateway and its admin listener
          [--workers N|auto] N processes sharing the listeners (node:cluster; in-memory counters are per
                             process: use Redis counters for exact limits across workers)
  check   -c rampart.yaml    validate config + OpenAPI specs and print the compiled route table
  audit   verify|tail|search|export   read and verify the audit trail (JSONL)
  incidents list|show|resolve|unblock  incidents and IP blocks (via the admin API)
  consumers create|list|delete        consumers in the store
  keys    create|list|rotate|revoke   API keys in the store (the secret is printed once)

Options:
  -c, --config <file>        config file (default: ./rampart.yaml)
  -h, --help                 this help
`;

/** CLI entry: dispatches to a command and sets the exit code (2 for usage and config errors). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c', default: 'rampart.yaml' },
      workers: { type: 'string', short: 'w' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: false,
  });
  const config = String(values.config);
  switch (command) {
    case 'start': {
      let workers: number;
      try {
        workers = parseWorkers(values.workers === undefined ? undefined : String(values.workers));
      } catch (error) {
        process.stderr.write(`rampart: ${(error as Error).message}\n`);
        return 2;
      }
      return runStart(config, { workers });
    }
    case 'check':
      return runCheck(config);
    case 'audit':
      return runAudit(config, rest);
    case 'incidents':
      return runIncidents(config, rest);
    case 'consumers':
      return runConsumers(rest, config);
    case 'keys':
      return runKeys(rest, config);
    default:
      process.stderr.write(`rampart: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`rampart: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
