#!/usr/bin/env node
import { RAMPART_VERSION } from '../version.ts';
import { parseArgs } from 'node:util';
import { runCheck } from './check.ts';
import { APPLY_USAGE, runApply } from './apply.ts';
import { AUDIT_USAGE, runAudit } from './audit.ts';
import { INCIDENTS_USAGE, runIncidents } from './incidents.ts';
import { CONSUMERS_USAGE, KEYS_USAGE, runConsumers, runKeys } from './keys.ts';
import { parseWorkers, runStart } from './start.ts';
import { reexecWithGatewayFlags } from './node-flags.ts';
import { SCAN_USAGE, runScanCommand } from '../scan/command.ts';

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
  keys    rotate-kek                  re-wrap the data keys under store.encryption.active (online)
  apply   -f consumers.yaml [--dry-run] [--prune]   declare consumers as code (plan printed, audited)
  export                             print the store's consumers in the file format apply reads
  scan    --spec F --target URL --identity A --identity B   attack an API (OWASP API Top 10), report text/JSON/SARIF

Options:
  -c, --config <file>        config file (default: ./rampart.yaml)
  -h, --help                 this help (after a command: that command's help)
  -v, --version              the version
      --json                 accepted by every list/show: their output is JSON (JSON lines for audit) already
`;

const START_USAGE = `Usage: rampart start [-c rampart.yaml] [--workers N|auto]

  Runs the gateway and its admin listener until SIGTERM/SIGINT (in-flight requests drain); SIGHUP reloads the
  config (a config that fails keeps the current one serving). Config and listen errors name the config path and
  exit 2.

  -c, --config <file>        config file (default: ./rampart.yaml)
  -w, --workers N|auto       N processes sharing the listeners (node:cluster); in-memory counters are per process:
                             use Redis counters for exact limits across workers
`;

const CHECK_USAGE = `Usage: rampart check [-c rampart.yaml]

  Validates the config and the OpenAPI specs it names, then prints the compiled route table (auth, scopes, roles,
  rules, ownership), the authorization report and what the WAF scans per operation. Exit 0 when the config can be
  used, 2 with every problem and its config path when not.
`;

/** Each command's help, printed by `rampart <command> --help` (exit 0; the command never runs). */
const COMMAND_USAGE: Readonly<Record<string, string>> = {
  start: START_USAGE,
  check: CHECK_USAGE,
  audit: AUDIT_USAGE,
  incidents: INCIDENTS_USAGE,
  consumers: `${CONSUMERS_USAGE}\n`,
  keys: `${KEYS_USAGE}\n`,
  apply: APPLY_USAGE,
  export: APPLY_USAGE,
  scan: SCAN_USAGE,
};

/** Whether `args` ask for help (before a `--` that ends the options). */
function asksForHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '-h' || arg === '--help') return true;
  }
  return false;
}

/** CLI entry: dispatches to a command and sets the exit code (2 for usage and config errors). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help') {
    // No command at all is a usage error (help to stderr); asking for help is not.
    (command ? process.stdout : process.stderr).write(USAGE);
    return command ? 0 : 2;
  }
  if (command === '-v' || command === '--version' || command === 'version') {
    process.stdout.write(`rampart ${RAMPART_VERSION}\n`);
    return 0;
  }
  const help = COMMAND_USAGE[command];
  if (help !== undefined && asksForHelp(rest)) {
    process.stdout.write(help);
    return 0;
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
      reexecWithGatewayFlags();
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
    case 'apply':
    case 'export':
      return runApply(command, rest, config);
    case 'scan':
      return runScanCommand(rest, RAMPART_VERSION);
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
