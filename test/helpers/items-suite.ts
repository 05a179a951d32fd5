import { after, before } from 'node:test';
import { startGateway, type TestGateway } from './gateway.ts';
import { itemsConfig, SPEC_FILES } from './gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

/** The gateway and upstream of one suite; read them inside tests (they are set in the suite's `before`). */
export interface ItemsSuite {
  readonly gw: TestGateway;
  readonly upstream: TestUpstream;
}

/**
 * Starts, for the calling `describe` block, a real upstream and the gateway with the items spec in front of it
 * (`itemsConfig`), and stops both after the suite.
 */
export function itemsSuite(extra: Parameters<typeof itemsConfig>[1] = {}): ItemsSuite {
  let gw: TestGateway | undefined;
  let upstream: TestUpstream | undefined;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url, extra), { files: SPEC_FILES });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });
  return {
    get gw() {
      if (!gw) throw new Error('itemsSuite: the gateway is not started (read it inside a test)');
      return gw;
    },
    get upstream() {
      if (!upstream) throw new Error('itemsSuite: the upstream is not started (read it inside a test)');
      return upstream;
    },
  };
}
