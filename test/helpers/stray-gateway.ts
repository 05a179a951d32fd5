/**
 * Child process for the crash-guard tests (node:test fails a test on any uncaught exception in its own process, so
 * stray exceptions are raised here): starts a Gateway from the config file in argv[2] with one extra stage whose
 * latent bug throws from a timer on paths under `/items/buggy`, prints `{"addresses": …}` as the first stdout
 * line, then the gateway's JSON log lines. A line `reject` or `throw` on stdin raises a stray error outside any
 * request.
 */
import { createInterface } from 'node:readline';
import { createLogger } from '../../src/log.ts';
import { Gateway } from '../../src/server/gateway.ts';
import type { RequestPolicy } from '../../src/pipeline/types.ts';

const logger = createLogger({ level: 'info', destination: process.stdout });
const gateway = await Gateway.start({ configFile: process.argv[2]!, logger, watch: false });
const handler = gateway.handler;
const real = handler.table;
const buggy: RequestPolicy = {
  name: 'buggy',
  stage: 'validate',
  run: (ctx) =>
    ctx.path.startsWith('/items/buggy')
      ? new Promise<void>(() =>
          setTimeout(() => {
            throw new Error('latent bug in a stage');
          }, 1),
        )
      : undefined,
};
handler.table = Object.assign(Object.create(real) as typeof real, {
  match: (method: string, path: string) => {
    const found = real.match(method, path);
    return found.kind === 'found' ? { ...found, route: { ...found.route, policies: [...found.route.policies, buggy] } } : found;
  },
});
process.stdout.write(JSON.stringify({ addresses: gateway.addresses }) + '\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'reject') void Promise.reject(new Error('background bug'));
  if (line === 'throw') setTimeout(() => { throw new Error('background throw'); }, 1);
});
