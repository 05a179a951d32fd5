/** JSON Schema pieces shared by every part of the config schema. */

/** A secret must be a reference, never a literal in the config file. */
export const SECRET_REF_PATTERN = '^\\$\\{(env|file):[^}]+\\}$';

export const secretRef = {
  type: 'string',
  pattern: SECRET_REF_PATTERN,
  description: 'A secret reference: `${env:NAME}` or `${file:/path/to/file}`. Literal secrets are rejected.',
} as const;

export const durationMs = (def: number, description: string, max = 3_600_000) =>
  ({ type: 'integer', minimum: 1, maximum: max, default: def, description }) as const;

export const byteSize = (def: number, description: string) =>
  ({ type: 'integer', minimum: 1, maximum: 1024 * 1024 * 1024, default: def, description }) as const;

export const mediaTypeList = {
  type: 'array',
  items: { type: 'string', pattern: '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+*-]+$' },
  uniqueItems: true,
  maxItems: 64,
} as const;
