/** A one-operation OpenAPI document: `POST /login` marked as a login route (account in the `username` field). */
export const LOGIN_SPEC = `openapi: 3.1.0
info: { title: login, version: 1.0.0 }
paths:
  /login:
    post:
      operationId: login
      security: []
      x-rampart-login: { account_field: username }
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object }
      responses: { '200': { description: ok }, '401': { description: no } }
`;
