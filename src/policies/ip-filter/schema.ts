/** `ip_filter:` — static allow/deny CIDRs (stage 4). Dynamic blocks come from incident response. */
const cidrList = (description: string) =>
  ({ type: 'array', items: { type: 'string', pattern: '^[0-9a-fA-F:.]+(/[0-9]{1,3})?$' }, maxItems: 10000, default: [], description }) as const;

export const ipFilterSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Static IP allow/deny lists, plus dynamic blocks placed by incident response. See docs/incident-response.md.',
  properties: {
    allow: cidrList('When non-empty, only client IPs in these CIDRs are served (403 otherwise).'),
    deny: cidrList('Client IPs in these CIDRs are refused (403). Deny wins over allow.'),
  },
} as const;

export interface IpFilterConfig {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}
