import type { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestContext } from '../pipeline/types.ts';

/** What the guard saw: an error thrown outside any try/catch, while serving `ctx` if known. */
export type StrayErrorHandler = (error: unknown, ctx: RequestContext | undefined, origin: 'uncaughtException' | 'unhandledRejection') => void;

/**
 * A handler with the request scope it reads: the gateway runs every request inside `scope.run(ctx, …)`, so an
 * exception thrown from a callback, timer, stream event or promise that request started can be traced back to it
 * (Node 24 carries the store through AsyncContextFrame at little cost). Work on a pooled upstream socket runs in
 * the scope of the request that opened the connection, so attribution is a best effort: the affected request is
 * answered only while it is still open.
 */
interface Registration {
  readonly scope: AsyncLocalStorage<RequestContext>;
  readonly handler: StrayErrorHandler;
}

const registrations = new Set<Registration>();

const onUncaught = (error: unknown) => dispatch(error, 'uncaughtException');
const onUnhandled = (reason: unknown) => dispatch(reason, 'unhandledRejection');

function dispatch(error: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void {
  for (const { scope, handler } of registrations) {
    try {
      handler(error, scope.getStore(), origin);
    } catch {
      // A failing reporter must not turn one stray error into a crash loop.
    }
  }
}

/**
 * Installs the process-level guard: a stray exception or rejection no longer ends the process (a restart would also
 * wipe every in-memory lockout and counter); each one goes to `handler` with the request `scope` says it belongs
 * to, which answers that request with a 500, counts it and logs it with the request id. Returns the uninstaller;
 * the process listeners go with the last registration.
 */
export function installCrashGuard(scope: AsyncLocalStorage<RequestContext>, handler: StrayErrorHandler): () => void {
  if (registrations.size === 0) {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
  }
  const registration = { scope, handler };
  registrations.add(registration);
  return () => {
    registrations.delete(registration);
    if (registrations.size === 0) {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUnhandled);
    }
  };
}
