/** `apis[].auth.mtls` — client certificates (verified on the TLS listener against `listen.https.client_ca`). */
export const mtlsAuthSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['consumers'],
  description:
    'Accept client certificates for operations whose OpenAPI security names a `mutualTLS` scheme. Needs `listen.https.client_ca`. A certificate is mapped to a consumer by its subject CN or a subjectAltName.',
  properties: {
    consumers: {
      type: 'object',
      minProperties: 1,
      maxProperties: 10000,
      propertyNames: { pattern: '^(CN=|DNS:|URI:|email:|IP Address:).{1,255}$' },
      additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
      description:
        'Certificate identity → consumer id, e.g. `"CN=svc-a": svc-a`, `"DNS:svc-b.internal": svc-b`, `"URI:spiffe://corp/svc-c": svc-c`. Roles and tenant come from the store\'s consumer of that id when it exists.',
    },
  },
} as const;

export interface MtlsAuthConfig {
  readonly consumers: Readonly<Record<string, string>>;
}
