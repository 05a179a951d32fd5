/**
 * Config slices for tests that build policies without loading a rampart.yaml: what is given, with every other
 * setting at its schema default (filled in by the schema itself, never retyped here).
 */
import { withSchemaDefaults } from '../../src/config/defaults.ts';
import { configSchema } from '../../src/config/schema.ts';
import type { ApiConfig, AuthConfig, JwtIssuerConfig } from '../../src/config/types.ts';
import { authSchema } from '../../src/policies/authn/schema.ts';
import { jwtIssuerSchema } from '../../src/policies/authn-jwt/schema.ts';
import { loginSchema, type LoginConfig } from '../../src/policies/bruteforce/schema.ts';

/** One `apis[]` entry (name `test`, upstream `main` unless given). */
export function apiConfig(given: Record<string, unknown> = {}): ApiConfig {
  return withSchemaDefaults<ApiConfig>(configSchema.properties.apis.items, { name: 'test', upstream: 'main', ...given });
}

/** `apis[].auth`. */
export function authConfig(given: Record<string, unknown> = {}): AuthConfig {
  return withSchemaDefaults<AuthConfig>(authSchema, given);
}

/** `operations.<id>.login` (or `x-rampart-login`). */
export function loginConfig(given: Record<string, unknown>): LoginConfig {
  return withSchemaDefaults<LoginConfig>(loginSchema, given);
}

/** Every `auth.jwt.issuers[]` setting at its schema default (spread it under the issuer and key source a test sets). */
export const ISSUER_DEFAULTS: Omit<JwtIssuerConfig, 'issuer'> = (() => {
  const { issuer: _issuer, ...defaults } = withSchemaDefaults<JwtIssuerConfig>(jwtIssuerSchema, { issuer: 'https://defaults.invalid' });
  return defaults;
})();
