import type { OpenAPIV3 } from 'openapi-types';
import { ConfigIssueError } from '../../config/errors.ts';
import type { SpecOperation } from '../../openapi/load.ts';
import type { SelfServiceKeysConfig } from './schema.ts';

export const CREATE_ID = 'rampart.createOwnApiKey';
export const LIST_ID = 'rampart.listOwnApiKeys';
export const REVOKE_ID = 'rampart.revokeOwnApiKey';

const SCOPE = { type: 'string', pattern: '^[A-Za-z0-9:._/-]{1,128}$' } as const;
const KEY_VIEW = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'scopes', 'expires_at', 'created_at', 'status'],
  properties: {
    id: { type: 'string' },
    name: { type: ['string', 'null'] },
    scopes: { type: 'array', items: { type: 'string' } },
    expires_at: { type: 'string' },
    created_at: { type: 'string' },
    last_used_at: { type: ['string', 'null'] },
    status: { type: 'string' },
    key: { type: 'string', description: 'The secret: only in the answer to its creation.' },
  },
} as const;
const json = (schema: unknown): OpenAPIV3.ResponseObject => ({ description: 'ok', content: { 'application/json': { schema: schema as OpenAPIV3.SchemaObject } } });

/**
 * The three self-service operations as spec operations, so every request stage treats them like any other route:
 * authentication with the API's token scheme, rate limits, strict validation of the body and path, response
 * minimisation to these schemas, audit.
 * @throws ConfigIssueError naming the config path when the spec has no token scheme to require.
 */
export function selfServiceOperations(config: SelfServiceKeysConfig, schemes: Readonly<Record<string, OpenAPIV3.SecuritySchemeObject>>, prefix: string, at: string): SpecOperation[] {
  const tokenSchemes = Object.entries(schemes).filter(([, s]) => (s.type === 'http' && s.scheme?.toLowerCase() === 'bearer') || s.type === 'oauth2' || s.type === 'openIdConnect');
  const scheme = config.scheme ?? tokenSchemes[0]?.[0];
  if (scheme === undefined || !tokenSchemes.some(([name]) => name === scheme)) {
    const problem = config.scheme ? `"${config.scheme}" is not an http bearer, oauth2 or openIdConnect scheme of the spec` : 'the spec has no http bearer, oauth2 or openIdConnect scheme';
    throw new ConfigIssueError(`${at}.scheme`, `${problem}; self-service keys are created by token holders only`);
  }
  const common = { security: [{ [scheme]: [] }], securitySchemes: schemes, deprecated: false };
  const path = `${prefix}${config.path}`;
  const idParam: OpenAPIV3.ParameterObject = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9A-Za-z]{12}$' } };
  return [
    {
      ...common,
      operationId: CREATE_ID,
      method: 'POST',
      path,
      parameters: [],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              additionalProperties: false,
              properties: {
                name: { type: 'string', minLength: 1, maxLength: 100 },
                scopes: { type: 'array', maxItems: 32, uniqueItems: true, items: SCOPE },
                ttl_days: { type: 'integer', minimum: 1, maximum: config.max_ttl_days },
              },
            } as OpenAPIV3.SchemaObject,
          },
        },
      },
      responses: { '201': json(KEY_VIEW) },
      raw: {},
    },
    { ...common, operationId: LIST_ID, method: 'GET', path, parameters: [], requestBody: undefined, responses: { '200': json({ type: 'object', additionalProperties: false, properties: { keys: { type: 'array', items: KEY_VIEW } } }) }, raw: {} },
    { ...common, operationId: REVOKE_ID, method: 'DELETE', path: `${path}/{id}`, parameters: [idParam], requestBody: undefined, responses: { '200': json(KEY_VIEW) }, raw: {} },
  ];
}
