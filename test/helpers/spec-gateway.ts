/** A real gateway with one spec-driven API (`api`, response checks off) in front of a recording test upstream. */
import { startGateway, type TestGateway } from './gateway.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

export interface SpecGateway {
  readonly gw: TestGateway;
  readonly upstream: TestUpstream;
  close(): Promise<void>;
}

export async function startSpecGateway(spec: string, api: Record<string, unknown> = {}): Promise<SpecGateway> {
  const upstream = await startUpstream();
  const gw = await startGateway(
    { monitor: { enabled: false }, upstreams: { main: { url: upstream.url } }, apis: [{ name: 'accounts', spec: './accounts.yaml', upstream: 'main', response: { mode: 'off' }, ...api }] },
    { files: { 'accounts.yaml': spec } },
  ).catch(async (error: unknown) => {
    await upstream.close();
    throw error;
  });
  return {
    gw,
    upstream,
    close: async () => {
      await gw.close();
      await upstream.close();
    },
  };
}
