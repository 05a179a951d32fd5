import { ConfigIssueError } from '../../config/errors.ts';
import type { ApiConfig } from '../../config/types.ts';
import type { PolicyBuildInput, PolicyFactory, ProxiedResponse, RequestContext, RequestPolicy, ResponsePolicy } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { FieldCipher, FieldDecryptError, fieldKeyBytes, isFieldCiphertext } from './cipher.ts';
import { markedFields, rewriteAt, type MarkedField } from './fields.ts';
import { fieldProtectionSchema, type FieldProtectionConfig } from './schema.ts';

const ciphers = new WeakMap<ApiConfig, FieldCipher>();

/** The API's field cipher, built once per config object. @throws ConfigIssueError on missing or unusable keys. */
function cipherOf(input: PolicyBuildInput, config: FieldProtectionConfig): FieldCipher {
  const known = ciphers.get(input.api);
  if (known) return known;
  const at = `apis[${input.apiIndex}].field_protection`;
  const keys = config.keys ?? [];
  if (keys.length === 0) throw new ConfigIssueError(`${at}.keys`, 'fields are marked x-rampart-encrypt but no key is configured', 'add keys: [{ id: f1, key: ${file:…} }] and active: f1');
  const parsed = keys.map((k, i) => {
    const key = fieldKeyBytes(k.key);
    if (!key) throw new ConfigIssueError(`${at}.keys[${i}].key`, 'is not 32 bytes (64 hex digits or base64)', 'generate one with `openssl rand -base64 32`');
    return { id: k.id, key };
  });
  const active = config.active ?? (keys.length === 1 ? keys[0]!.id : undefined);
  if (active === undefined || !keys.some((k) => k.id === active)) throw new ConfigIssueError(`${at}.active`, 'must name one of the listed keys');
  const cipher = new FieldCipher(parsed, active);
  ciphers.set(input.api, cipher);
  return cipher;
}

const isJson = (type: string | string[] | undefined) => /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(String(Array.isArray(type) ? type[0] : (type ?? '')));
const jsonSchemas = (content: Record<string, { schema?: unknown }> | undefined) => Object.entries(content ?? {}).filter(([type]) => isJson(type)).map(([, media]) => media.schema);
const aadOf = (api: string, field: MarkedField) => `rampart.field.v1\0${api}\0${field.label}`;

/**
 * Field-level protection of one operation: marked request body fields are encrypted after validation and the WAF
 * (which judge the plaintext), before the credential stage signs or forwards the body; marked response fields are
 * decrypted before the response contract and ownership checks read them, and encrypted again, after them, for a
 * caller holding none of the field's read scopes. Undefined halves when the operation marks nothing.
 */
export function createFieldProtectionPolicies(input: PolicyBuildInput, config: FieldProtectionConfig): { request?: RequestPolicy; response?: ResponsePolicy[] } {
  const operation = input.operation;
  if (!operation) return {};
  const where = `operation ${input.operationId}`;
  const requestFields = markedFields(jsonSchemas(operation.requestBody?.content as Record<string, { schema?: unknown }> | undefined), `${where} request body`);
  const responseFields = markedFields(Object.values(operation.responses).flatMap((r) => jsonSchemas(r.content as Record<string, { schema?: unknown }> | undefined)), `${where} responses`);
  if (requestFields.length === 0 && responseFields.length === 0) return {};
  const cipher = cipherOf(input, config);
  const api = input.api.name;
  const limit = input.maxBodyBytes;
  const out: { request?: RequestPolicy; response?: ResponsePolicy[] } = {};

  if (requestFields.length > 0) {
    out.request = {
      name: 'field-encrypt',
      stage: 'credential',
      async run(ctx: RequestContext): Promise<void> {
        if (!ctx.hasBody || !isJson(ctx.headers['content-type'])) return;
        const body = await ctx.readBody(limit);
        let value: unknown;
        try {
          value = JSON.parse(body.toString('utf8'));
        } catch (error) {
          throw new GatewayError('bad_request', 'field protection: the JSON body does not parse', { cause: error });
        }
        for (const field of requestFields) rewriteAt(value, field.path, (v) => (isFieldCiphertext(v) ? v : cipher.encrypt(v, aadOf(api, field), field.mode)));
        ctx.replaceBody(Buffer.from(JSON.stringify(value), 'utf8'));
        // The client's digests describe the body it sent, not the one forwarded.
        ctx.stripUpstreamHeaders = new Set([...(ctx.stripUpstreamHeaders ?? []), 'content-digest', 'repr-digest']);
      },
    };
  }

  if (responseFields.length > 0) {
    const apiScopes = config.read_scopes;
    const mayRead = (ctx: RequestContext, field: MarkedField) => {
      const scopes = field.readScopes ?? apiScopes;
      return ctx.identity !== undefined && scopes.some((s) => ctx.identity!.scopes.includes(s));
    };
    const parse = (response: ProxiedResponse): unknown => {
      if (response.body === undefined || response.body.length === 0 || !isJson(response.headers['content-type'])) return undefined;
      try {
        return JSON.parse(response.body.toString('utf8'));
      } catch {
        return undefined; // the response contract judges a body that does not parse
      }
    };
    out.response = [
      {
        name: 'field-decrypt',
        stage: 'ownership',
        needsBody: true,
        run(ctx: RequestContext, response: ProxiedResponse): void {
          const value = parse(response);
          if (value === undefined) return;
          let failed = 0;
          for (const field of responseFields) {
            rewriteAt(value, field.path, (v) => {
              if (!isFieldCiphertext(v)) return v;
              try {
                return cipher.decrypt(v, aadOf(api, field));
              } catch (error) {
                if (!(error instanceof FieldDecryptError)) throw error;
                failed++;
                return null;
              }
            });
          }
          if (failed > 0) ctx.notes.reason ??= `field protection: ${failed} stored value(s) did not decrypt (sent as null)`;
          response.body = Buffer.from(JSON.stringify(value), 'utf8');
        },
      },
      {
        name: 'field-reencrypt',
        stage: 'headers',
        needsBody: true,
        run(ctx: RequestContext, response: ProxiedResponse): void {
          const hidden = responseFields.filter((f) => !mayRead(ctx, f));
          if (hidden.length === 0) return;
          const value = parse(response);
          if (value === undefined) return;
          for (const field of hidden) rewriteAt(value, field.path, (v) => (isFieldCiphertext(v) ? v : cipher.encrypt(v, aadOf(api, field), field.mode)));
          response.body = Buffer.from(JSON.stringify(value), 'utf8');
        },
      },
    ];
  }
  return out;
}

/** The marked fields of an operation, for `rampart check` and the routes page. */
export function fieldProtectionReport(input: Pick<PolicyBuildInput, 'operation' | 'operationId'>): { readonly request: string[]; readonly response: string[] } {
  const op = input.operation;
  if (!op) return { request: [], response: [] };
  const where = `operation ${input.operationId}`;
  return {
    request: markedFields(jsonSchemas(op.requestBody?.content as Record<string, { schema?: unknown }> | undefined), where).map((f) => f.label),
    response: markedFields(Object.values(op.responses).flatMap((r) => jsonSchemas(r.content as Record<string, { schema?: unknown }> | undefined)), where).map((f) => f.label),
  };
}

/** The registry entry (src/policies/index.ts): the factory and its `apis[].field_protection` setting. */
export const fieldProtectionPolicy: PolicyFactory = {
  name: 'field-protection',
  setting: { key: 'field_protection', schema: fieldProtectionSchema },
  // The loader validated and defaulted the value against fieldProtectionSchema.
  build: (input, setting) => createFieldProtectionPolicies(input, setting as FieldProtectionConfig),
};
