import type { BlockList } from 'node:net';
import { cidrList, inList } from '../../http/cidr.ts';
import { GatewayError } from '../../problem.ts';
import type { DynamicBlocks, RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import type { IpFilterConfig } from './schema.ts';


const compiled = new WeakMap<IpFilterConfig, { allow: BlockList | undefined; deny: BlockList | undefined }>();

/**
 * The IP filter (stage 4): static deny list, static allow list, then dynamic blocks from incident response. Lists
 * are compiled once per config (shared by every route); per request it is two BlockList checks and a Map lookup.
 * Denies with `ip_blocked` (403) and notes the rule (`deny_list`, `allow_list`, `dynamic_block`). Returns undefined
 * when there is nothing to enforce (no lists and no block service).
 *
 * @throws Error naming `ip_filter.allow[i]`/`ip_filter.deny[i]` for an invalid CIDR.
 */
export function createIpFilterPolicy(config: IpFilterConfig, blocks: DynamicBlocks | undefined): RequestPolicy | undefined {
  let lists = compiled.get(config);
  if (!lists) {
    lists = { allow: cidrList(config.allow, 'ip_filter.allow'), deny: cidrList(config.deny, 'ip_filter.deny') };
    compiled.set(config, lists);
  }
  const { allow, deny } = lists;
  if (!allow && !deny && !blocks) return undefined;
  return {
    name: 'ip-filter',
    stage: 'ip_filter',
    run(ctx: RequestContext): void {
      const ip = ctx.clientIp;
      if (deny && inList(deny, ip)) {
        ctx.notes.rule = 'deny_list';
        throw new GatewayError('ip_blocked', 'client IP in ip_filter.deny');
      }
      if (allow && !inList(allow, ip)) {
        ctx.notes.rule = 'allow_list';
        throw new GatewayError('ip_blocked', 'client IP not in ip_filter.allow');
      }
      const block = blocks?.isBlocked(ip);
      if (block) {
        ctx.notes.rule = 'dynamic_block';
        if (block.incidentId) ctx.notes.incident = block.incidentId;
        throw new GatewayError('ip_blocked', `client IP blocked by incident response (${block.reason})`);
      }
    },
  };
}
