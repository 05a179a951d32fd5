#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runCheck } from './check.ts';
import { runStart } from './start.ts';

const USAGE = `Usage: rampart <command> [options]

Commands:
  start   -c rampart.yaml    run the gateway and its admin listener
  check   -c rampart.yaml    validate config + OpenAPI specs and print the compiled route table

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
    options: { config: { type: 'string', short: 'c', default: 'rampart.yaml' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false,
  });
  const config = String(values.config);
  switch (command) {
    case 'start':
      return runStart(config);
    case 'check':
      return runCheck(config);
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
