import type { ApiConfig, UpstreamConfig } from '../config/types.ts';
import type { CorsPolicy } from '../policies/cors/index.ts';
import type { SpecOperation } from '../openapi/load.ts';
import type { RequestPolicy, ResponsePolicy } from './stages.ts';

/** Everything the data plane needs for one operation, built once at compile time. */
export interface CompiledRoute {
  readonly api: ApiConfig;
  readonly operationId: string;
  readonly method: string;
  /** The template as matched (with servers base path), for logs and metrics: never the raw path. */
  readonly template: string;
  /** The spec operation, absent on passthrough APIs. */
  readonly operation: SpecOperation | undefined;
  readonly upstreamName: string;
  readonly upstream: UpstreamConfig;
  readonly maxBodyBytes: number;
  /** Accepted request media types (lower-case, no parameters); empty set = no body expected. */
  readonly contentTypes: ReadonlySet<string>;
  readonly cors: CorsPolicy | undefined;
  /** Request policies in stage order. */
  readonly policies: readonly RequestPolicy[];
  readonly responsePolicies: readonly ResponsePolicy[];
  /** Whether any response policy needs the upstream body buffered. */
  readonly buffersResponse: boolean;
}
