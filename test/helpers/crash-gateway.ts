/**
 * Child process for the audit crash test: starts a Gateway from the config file in argv[2] and prints its
 * addresses as one JSON line on stdout. The parent kills it with SIGKILL.
 */
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.ts';
import { Gateway } from '../../src/server/gateway.ts';

const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const gateway = await Gateway.start({ configFile: process.argv[2]!, logger, watch: false });
process.stdout.write(JSON.stringify(gateway.addresses) + '\n');
