/**
 * An existing API as teams put Rampart in front of it: it issues its own HS256 JWTs (claims `sub`, `iat`, `exp`
 * only) with a short secret, trusts any token that verifies with it (`sub: admin` is the administrator), and answers
 * failed logins with `200 {"message": …}`, a different message for an unknown user (enumeration).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, SignJWT } from 'jose';

export const APP_SECRET = 'secret123';
/** Notes and their owners: only the owner (or the admin) sees or changes one. */
export const NOTE_OWNERS: Readonly<Record<string, string>> = { 'note-a': 'alice', 'note-b': 'bob' };
export const APP_USERS: Readonly<Record<string, string>> = { alice: 'correct horse battery staple', admin: 'admin password 2026' };

export interface AppUpstream {
  readonly url: string;
  /** Authorization header values the app received, newest last. */
  readonly authorizations: (string | undefined)[];
  /** Every request's headers, newest last. */
  readonly requests: { readonly path: string; readonly headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

/** Signs a token the way the app does, with any key (the app's own one forges an admin). */
export function appToken(sub: string, key: string = APP_SECRET, lifetimeSeconds = 3600): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(iat).setExpirationTime(iat + lifetimeSeconds).sign(new TextEncoder().encode(key));
}

async function bearerSubject(req: IncomingMessage): Promise<string | undefined> {
  const header = req.headers.authorization;
  if (!header?.startsWith('Bearer ')) return undefined;
  try {
    const { payload } = await jwtVerify(header.slice(7), new TextEncoder().encode(APP_SECRET), { algorithms: ['HS256'] });
    return payload.sub;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startAppUpstream(): Promise<AppUpstream> {
  const authorizations: (string | undefined)[] = [];
  const requests: { path: string; headers: IncomingMessage['headers'] }[] = [];
  const server: Server = createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    requests.push({ path: req.url ?? '/', headers: req.headers });
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'POST' && path === '/login') {
        let body: { username?: unknown; password?: unknown } = {};
        try {
          body = JSON.parse(await readBody(req)) as typeof body;
        } catch {
          return json(400, { message: 'Bad JSON' });
        }
        const user = typeof body.username === 'string' ? body.username : '';
        if (!(user in APP_USERS)) return json(200, { message: 'User not found' });
        if (APP_USERS[user] !== body.password) return json(200, { message: 'Password is not correct' });
        return json(200, { token: await appToken(user) });
      }
      if (path === '/public') return json(200, { authorization: req.headers.authorization ?? null });
      const subject = await bearerSubject(req);
      if (subject === undefined) return json(401, { message: 'Unauthorized' });
      if (path === '/me') return json(200, { sub: subject });
      const note = /^\/notes\/([a-z0-9-]+)$/.exec(path ?? '');
      if (note) {
        const owner = NOTE_OWNERS[note[1]!];
        const visible = owner !== undefined && (subject === owner || subject === 'admin');
        if (req.method === 'GET') return visible ? json(200, { id: note[1], owner }) : json(404, { message: 'Not found' });
        return visible ? json(200, { id: note[1], updated: true }) : json(403, { message: 'Not yours' });
      }
      if (path === '/admin/users') return subject === 'admin' ? json(200, { users: Object.keys(APP_USERS) }) : json(403, { message: 'Admins only' });
      return json(404, { message: 'Not found' });
    })().catch(() => json(500, { message: 'error' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    authorizations,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The app's OpenAPI document as a team would write it: API keys on the app's routes, a public login. */
export const APP_SPEC = `openapi: 3.1.0
info: { title: shop, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
    appToken: { type: http, scheme: bearer }
  schemas:
    Login:
      type: object
      additionalProperties: false
      required: [username, password]
      properties: { username: { type: string, maxLength: 64 }, password: { type: string, maxLength: 128 } }
    Any: { type: object }
security: [ { apiKey: [] } ]
paths:
  /login:
    post:
      operationId: login
      security: []
      x-rampart-login: { account_field: username }
      requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/Login' } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } } }
  /me:
    get:
      operationId: me
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } }, '401': { description: no } }
  /admin/users:
    get:
      operationId: listUsers
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } }, '403': { description: no } }
  /notes/{id}:
    parameters: [ { name: id, in: path, required: true, schema: { type: string, pattern: '^[a-z0-9-]{1,32}$' } } ]
    get:
      operationId: getNote
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } }, '404': { description: no } }
    put:
      operationId: updateNote
      x-rampart-owner-lookup: { from: params.id, operation: getNote, rule: 'true' }
      requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } }, '403': { description: no }, '404': { description: no } }
  /public:
    get:
      operationId: publicInfo
      security: []
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } } }
`;
