import { ConfigError } from '../config/errors.ts';
import { SpecError } from '../openapi/load.ts';
import { Gateway } from '../server/gateway.ts';

/** `rampart start`: runs until SIGTERM/SIGINT (graceful drain); SIGHUP reloads the config. */
export async function runStart(configFile: string): Promise<number> {
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ configFile });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SpecError) {
      process.stderr.write(`rampart: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  process.on('SIGHUP', () => void gateway.reload());
  await new Promise<void>((resolve) => {
    const stop = () => {
      gateway.logger.info('shutting down: draining in-flight requests');
      void gateway.stop().then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}
