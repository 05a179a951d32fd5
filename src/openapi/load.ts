import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3, OpenAPIV3_1 } from 'openapi-types';

export type OpenApiDocument = OpenAPIV3.Document | OpenAPIV3_1.Document;
export type ParameterObject = OpenAPIV3.ParameterObject;
export type SecurityRequirement = Readonly<Record<string, readonly string[]>>;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** One operation of a spec with its references resolved and path-level parameters merged in. */
export interface SpecOperation {
  readonly operationId: string;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Path template as written in the spec, with the servers base path in front (e.g. `/v1/orders/{id}`). */
  readonly path: string;
  readonly parameters: readonly ParameterObject[];
  readonly requestBody: OpenAPIV3.RequestBodyObject | undefined;
  readonly responses: Readonly<Record<string, OpenAPIV3.ResponseObject>>;
  /** Effective security: the operation's own, else the document's. `[]` means public. */
  readonly security: readonly SecurityRequirement[];
  /** The document's `components.securitySchemes` (one shared object per document). */
  readonly securitySchemes: Readonly<Record<string, OpenAPIV3.SecuritySchemeObject>>;
  readonly deprecated: boolean;
  /** The raw operation object, for `x-rampart-*` extensions. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface LoadedSpec {
  readonly file: string;
  readonly document: OpenApiDocument;
  readonly operations: readonly SpecOperation[];
}

/** Raised when a spec cannot be loaded; names the file and, where known, the JSON pointer. */
export class SpecError extends Error {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'SpecError';
    this.file = file;
  }
}

/**
 * Loads and validates an OpenAPI 3.0/3.1 document (YAML or JSON, local and multi-file `$ref`s) with
 * swagger-parser, then flattens it into operations. Operations without an operationId get a stable generated one
 * (`get_/orders/{id}`).
 */
export async function loadSpec(file: string): Promise<LoadedSpec> {
  let document: OpenApiDocument;
  try {
    await SwaggerParser.validate(file);
    document = (await SwaggerParser.dereference(file)) as OpenApiDocument;
  } catch (error) {
    throw new SpecError(file, (error as Error).message.split('\n').slice(0, 6).join('\n'), { cause: error });
  }
  if (!('openapi' in document) || !/^3\.[01]\./.test(String(document.openapi))) {
    throw new SpecError(file, 'only OpenAPI 3.0 and 3.1 documents are supported');
  }
  const serverBase = basePathOf(document);
  const operations: SpecOperation[] = [];
  const securitySchemes = (document.components?.securitySchemes ?? {}) as Record<string, OpenAPIV3.SecuritySchemeObject>;
  const seen = new Set<string>();
  for (const [template, item] of Object.entries(document.paths ?? {})) {
    if (!item) continue;
    const pathParams = (item.parameters ?? []) as ParameterObject[];
    for (const method of HTTP_METHODS) {
      const op = (item as Record<string, unknown>)[method] as OpenAPIV3.OperationObject | undefined;
      if (!op) continue;
      const operationId = op.operationId ?? `${method}_${template}`;
      if (seen.has(operationId)) throw new SpecError(file, `duplicate operationId "${operationId}" at /paths/${template}/${method}`);
      seen.add(operationId);
      const own = (op.parameters ?? []) as ParameterObject[];
      const parameters = [...pathParams.filter((p) => !own.some((o) => o.name === p.name && o.in === p.in)), ...own];
      operations.push({
        operationId,
        method: method.toUpperCase(),
        path: joinPath(serverBase, template),
        parameters,
        requestBody: op.requestBody as OpenAPIV3.RequestBodyObject | undefined,
        responses: (op.responses ?? {}) as Record<string, OpenAPIV3.ResponseObject>,
        security: (op.security ?? document.security ?? []) as SecurityRequirement[],
        securitySchemes,
        deprecated: op.deprecated === true,
        raw: op as unknown as Record<string, unknown>,
      });
    }
  }
  return { file, document, operations };
}

function basePathOf(document: OpenApiDocument): string {
  const url = document.servers?.[0]?.url ?? '/';
  const path = /^[a-z]+:\/\//i.test(url) ? new URL(url.replace(/\{[^}]*\}/g, 'x')).pathname : url;
  return path.replace(/\/+$/, '');
}

function joinPath(base: string, template: string): string {
  return (base + (template.startsWith('/') ? template : `/${template}`)).replace(/\/{2,}/g, '/');
}
