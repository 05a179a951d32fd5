import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import proxy from '@fastify/http-proxy';
import replyFrom from '@fastify/reply-from';
import fastifyJwt from '@fastify/jwt';
import rateLimit from '@fastify/rate-limit';

/**
 * The "assembled in Node" peer: Fastify 5 + @fastify/http-proxy + @fastify/jwt (ES256, static public key) +
 * @fastify/rate-limit (in-memory, per IP, limit far above the load so it never trips) + a JSON body schema on
 * POST /items. GET traffic goes through http-proxy behind the JWT check and the limiter.
 * Usage: node bench/servers/fastify-stack.ts <port> <upstream-url>; env BENCH_JWT_PUBLIC_PEM, BENCH_JWT_ISSUER,
 * BENCH_JWT_AUDIENCE, BENCH_FASTIFY_JWT_CACHE (fast-jwt verified-token cache size; default off, the library default).
 */
const port = Number(process.argv[2] ?? 0);
const upstream = process.argv[3] ?? 'http://127.0.0.1:3000';
const env = process.env;
const cacheSize = Number(env['BENCH_FASTIFY_JWT_CACHE'] ?? 0);

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(fastifyJwt, {
  secret: { public: env['BENCH_JWT_PUBLIC_PEM'] ?? '', private: 'unused' },
  verify: {
    algorithms: ['ES256'],
    allowedIss: env['BENCH_JWT_ISSUER'] ?? '',
    allowedAud: env['BENCH_JWT_AUDIENCE'] ?? '',
    ...(cacheSize > 0 ? { cache: cacheSize } : {}),
  },
});
await app.register(rateLimit, { global: true, max: 1_000_000_000, timeWindow: '1 minute' });

async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  try {
    await request.jwtVerify();
  } catch {
    await reply.code(401).send({ error: 'unauthorized' });
  }
}

await app.register(proxy, {
  upstream,
  prefix: '/',
  httpMethods: ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'],
  preHandler: authenticate,
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
});

await app.register(async (scope) => {
  await scope.register(replyFrom, { base: upstream, undici: { connections: 32, pipelining: 1 } });
  scope.post(
    '/items',
    {
      preHandler: authenticate,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'price'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            price: { type: 'number', minimum: 0 },
            tags: { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 20 } },
          },
        },
      },
    },
    (request, reply) => reply.from('/items', { body: JSON.stringify(request.body), rewriteRequestHeaders: (_r, h) => ({ ...h, 'content-type': 'application/json' }) }),
  );
});

await app.listen({ port, host: '127.0.0.1' });
process.stdout.write('READY\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
