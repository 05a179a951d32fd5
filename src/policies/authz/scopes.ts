import type { OpenAPIV3 } from 'openapi-types';
import type { Identity } from '../../pipeline/types.ts';
import type { SecurityRequirement } from '../../openapi/load.ts';

/** Identity methods each OpenAPI security scheme type is satisfied by. */
function methodsFor(scheme: OpenAPIV3.SecuritySchemeObject | undefined): readonly string[] {
  switch (scheme?.type) {
    case 'oauth2':
    case 'openIdConnect':
      return ['jwt', 'introspection'];
    case 'http':
      if (scheme.scheme.toLowerCase() === 'signature') return ['signature']; // HTTP Message Signatures (auth.signatures)
      return scheme.scheme.toLowerCase() === 'bearer' ? ['jwt', 'introspection'] : [];
    case 'apiKey':
      return ['api_key'];
    default:
      return (scheme as { type?: string } | undefined)?.type === 'mutualTLS' ? ['mtls'] : [];
  }
}

/** One compiled requirement object: the schemes in it with the scopes each demands. */
interface CompiledRequirement {
  readonly schemes: readonly { readonly name: string; readonly methods: readonly string[]; readonly scopes: readonly string[] }[];
}

/** The scope check of one operation, compiled from its effective `security`. */
export interface ScopeCheck {
  /** True when some requirement is empty (`{}`) or `security: []`: no scope needed. */
  readonly public: boolean;
  readonly requirements: readonly CompiledRequirement[];
  /** Scopes named by bearer-type schemes, for the `WWW-Authenticate` challenge. */
  readonly bearerScopes: readonly string[];
  /** Whether `identity` satisfies at least one requirement. */
  allows(identity: Identity | undefined): boolean;
}

/**
 * Compiles an operation's security requirements for authorization: requirement objects are alternatives (OR); in
 * one requirement, every scheme the caller authenticated with must have all its listed scopes (AND). Which scheme
 * the caller used is known from `identity.method`; schemes of other kinds in an AND requirement are the
 * authenticate stage's business.
 */
export function compileScopeCheck(security: readonly SecurityRequirement[], schemes: Readonly<Record<string, OpenAPIV3.SecuritySchemeObject>>): ScopeCheck {
  const isPublic = security.length === 0 || security.some((r) => Object.keys(r).length === 0);
  const requirements: CompiledRequirement[] = security
    .filter((r) => Object.keys(r).length > 0)
    .map((r) => ({ schemes: Object.entries(r).map(([name, scopes]) => ({ name, methods: methodsFor(schemes[name]), scopes: [...scopes] })) }));
  const bearerScopes = [...new Set(requirements.flatMap((r) => r.schemes.filter((s) => s.methods.includes('jwt')).flatMap((s) => s.scopes)))];
  return {
    public: isPublic,
    requirements,
    bearerScopes,
    allows(identity) {
      if (isPublic) return true;
      if (!identity) return false;
      const held = new Set(identity.scopes);
      return requirements.some((requirement) => {
        const used = requirement.schemes.filter((s) => s.methods.includes(identity.method));
        return used.length > 0 && used.every((s) => s.scopes.every((scope) => held.has(scope)));
      });
    },
  };
}
