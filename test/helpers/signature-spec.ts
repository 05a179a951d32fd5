/** A partner API whose one operation, GET /orders/{id}, requires an RFC 9421 signature (the signature suites share it). */
export const PARTNER_ORDERS_SPEC = `openapi: 3.1.0
info: { title: partners, version: 1.0.0 }
components:
  securitySchemes:
    partnerSignature: { type: http, scheme: signature }
security: [ { partnerSignature: [] } ]
paths:
  /orders/{id}:
    parameters: [ { name: id, in: path, required: true, schema: { type: string } } ]
    get:
      operationId: getOrder
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;
