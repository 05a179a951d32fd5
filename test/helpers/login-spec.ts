/** Options of {@link loginSpec}. */
export interface LoginSpecOptions {
  /** `[path, operationId]` of each login route (default one: `POST /login`, `login`). */
  readonly routes?: readonly (readonly [string, string])[];
  /** The request body `content` map as YAML flow (default: any JSON object). */
  readonly content?: string;
  /** More path items, as YAML indented under `paths:`. */
  readonly extraPaths?: string;
}

/** An OpenAPI document whose POST routes are login routes (`x-rampart-login`, account in the `username` field). */
export function loginSpec(options: LoginSpecOptions = {}): string {
  const content = options.content ?? '{ application/json: { schema: { type: object } } }';
  const routes = (options.routes ?? [['/login', 'login']]).map(
    ([path, id]) => `  ${path}:
    post:
      operationId: ${id}
      security: []
      x-rampart-login: { account_field: username }
      requestBody:
        required: true
        content: ${content}
      responses: { '200': { description: ok }, '401': { description: no } }
`,
  );
  return `openapi: 3.1.0\ninfo: { title: login, version: 1.0.0 }\npaths:\n${routes.join('')}${options.extraPaths ?? ''}`;
}

/** A one-operation OpenAPI document: `POST /login` marked as a login route (account in the `username` field). */
export const LOGIN_SPEC = loginSpec();
