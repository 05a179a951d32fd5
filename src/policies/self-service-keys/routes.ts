import { ConfigIssueError } from '../../config/errors.ts';
import type { ApiConfig } from '../../config/types.ts';
import type { LoadedSpec } from '../../openapi/load.ts';
import type { Services } from '../../pipeline/types.ts';
import { selfServiceEndpoint } from './index.ts';
import { selfServiceOperations } from './operations.ts';

/** A key request is a name, scopes and a lifetime: a few hundred bytes. */
const KEY_REQUEST_BODY_BYTES = 64 * 1024;

/**
 * The self-service key operations of an API, with their endpoints (none unless `self_service_keys.enabled`). The
 * keys they issue are only usable where the API accepts API keys, so that is required.
 * @throws ConfigIssueError naming the config path on a misconfiguration.
 */
export function selfServiceRoutes(api: ApiConfig, apiIndex: number, spec: LoadedSpec, services: Services) {
  const config = api.self_service_keys;
  if (!config?.enabled) return [];
  const at = `apis[${apiIndex}].self_service_keys`;
  if (api.auth?.api_keys === undefined || api.auth.api_keys === false) throw new ConfigIssueError(at, 'the API does not accept API keys (auth.api_keys), so self-service keys would be useless');
  if (config.default_ttl_days > config.max_ttl_days) throw new ConfigIssueError(`${at}.default_ttl_days`, `is over max_ttl_days (${config.max_ttl_days})`);
  const schemes = spec.operations[0]?.securitySchemes ?? ((spec.document.components?.securitySchemes ?? {}) as never);
  const operations = selfServiceOperations(config, schemes, '', at);
  for (const operation of operations) {
    if (spec.operations.some((o) => o.path === operation.path)) throw new ConfigIssueError(`${at}.path`, `${operation.path} is also a path of ${spec.file}`, 'choose a path the spec does not use');
  }
  return operations.map((operation) => ({
    operation,
    local: selfServiceEndpoint(operation.operationId, api, config, services, KEY_REQUEST_BODY_BYTES),
  }));
}
