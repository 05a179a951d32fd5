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
  /** `x-rampart-sunset` as an HTTP-date (RFC 8594 `Sunset` header), when the operation has one. */
  readonly sunset?: string;
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
    throw new SpecError(file, describeLoadError(file, error), { cause: error });
  }
  if (!('openapi' in document) || !/^3\.[01]\./.test(String(document.openapi))) {
    throw new SpecError(file, 'only OpenAPI 3.0 and 3.1 documents are supported');
  }
  const serverBase = basePathOf(file, document);
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
        ...sunsetOf(file, op, `/paths/${template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}`),
        raw: op as unknown as Record<string, unknown>,
      });
    }
  }
  return { file, document, operations };
}

/**
 * The parser's message, prefixed with where the problem is when the parser knows it: `$ref` errors carry the file
 * that holds the bad reference (`source`, which may be another file of a multi-file spec) and the JSON pointer of
 * the reference in it (`parentPath`); schema validation errors already list `#/json/pointer`s in the message.
 */
function describeLoadError(file: string, error: unknown): string {
  const { message, source, parentPath } = error as { message?: string; source?: unknown; parentPath?: unknown };
  const text = String(message ?? error).split('\n').slice(0, 6).join('\n');
  if (typeof parentPath !== 'string' || parentPath === '') return text;
  const at = typeof source === 'string' && source !== '' && source !== file ? `${source}${parentPath}` : parentPath;
  return `at ${at}: ${text}`;
}

/** `x-rampart-sunset` (a date or date-time) → `{ sunset: HTTP-date }`; an unparseable value stops start-up. */
function sunsetOf(file: string, op: object, pointer: string): { sunset?: string } {
  const raw = (op as Record<string, unknown>)['x-rampart-sunset'];
  if (raw === undefined) return {};
  // YAML parsers may already have turned an unquoted date into a Date.
  const date = raw instanceof Date ? raw : typeof raw === 'string' ? new Date(raw) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new SpecError(file, `#${pointer}/x-rampart-sunset must be a date or date-time (e.g. 2027-01-31)`);
  return { sunset: date.toUTCString() };
}

/** The path of the first server URL, with server variables replaced by their defaults (`/{version}` → `/v1`). */
function basePathOf(file: string, document: OpenApiDocument): string {
  const server = document.servers?.[0];
  const variables = (server?.variables ?? {}) as Record<string, { default?: unknown }>;
  const url = (server?.url ?? '/').replace(/\{([^}]*)\}/g, (_, name: string) => String(variables[name]?.default ?? 'x'));
  let path = url;
  if (/^[a-z]+:\/\//i.test(url)) {
    try {
      path = new URL(url).pathname;
    } catch {
      throw new SpecError(file, '#/servers/0/url is not a valid URL once its variables are replaced by their defaults');
    }
  }
  return path.replace(/\/+$/, '');
}

function joinPath(base: string, template: string): string {
  return (base + (template.startsWith('/') ? template : `/${template}`)).replace(/\/{2,}/g, '/');
}
