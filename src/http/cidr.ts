import { BlockList, isIP } from 'node:net';

/**
 * Builds a node:net BlockList from IP addresses and CIDRs (`10.0.0.0/8`, `2001:db8::/32`), undefined for an empty
 * list. Throws an Error naming `path[i]` for an entry that is not an address or a CIDR with a valid prefix length.
 */
export function cidrList(entries: readonly string[], path: string): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max))) {
      throw new Error(`${path}[${i}]: "${entry}" is not an IP address or CIDR`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  });
  return list;
}

/** Whether `ip` is in `list`; false for anything that is not an IP address (never throws). */
export function inList(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}
