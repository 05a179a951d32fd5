import { useState } from 'preact/hooks';
import { api, query, type Counter, type Lockout, type Page } from '../api.ts';
import { Empty, ErrorLine, Section, useAction, useLoad } from '../components/ui.tsx';

const seconds = (ms: number | undefined) => (ms === undefined ? '–' : `${Math.ceil(ms / 1000)} s`);

/** Rate-limit counters, brute-force lockouts (lift by IP) and requests in flight. */
export function Limits({ canChange }: { canChange: boolean }) {
  const [prefix, setPrefix] = useState('');
  const counters = useLoad(() => api.get<Page<Counter>>(`/ratelimit/counters${query({ prefix, limit: 200 })}`), [prefix]);
  const lockouts = useLoad(() => api.get<Page<Lockout>>('/ratelimit/lockouts?limit=200'), []);
  const inFlight = useLoad(() => api.get<Page<{ key: string; inFlight: number }>>('/ratelimit/concurrency?limit=200'), []);
  const { run, status } = useAction();
  return (
    <>
      <h1>Rate limits and lockouts</h1>
      {status}
      <Section title="Brute-force lockouts">
        <ErrorLine error={lockouts.error} />
        {lockouts.data && lockouts.data.items.length === 0 ? (
          <Empty>No failed logins are being counted.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Route</th>
                <th scope="col">Kind</th>
                <th scope="col">Client IP</th>
                <th scope="col">Account (hashed)</th>
                <th scope="col" class="num">
                  Failures
                </th>
                <th scope="col">Expires in</th>
                {canChange ? <th scope="col"><span class="sr-only">Actions</span></th> : null}
              </tr>
            </thead>
            <tbody data-testid="lockouts">
              {lockouts.data?.items.map((l, i) => (
                <tr key={i}>
                  <td>{l.route}</td>
                  <td>{l.kind}</td>
                  <td>{l.ip ?? '–'}</td>
                  <td>
                    <code>{l.account ? `${l.account.slice(0, 12)}…` : '–'}</code>
                  </td>
                  <td class="num">{l.failures}</td>
                  <td>{seconds(l.ttlMs)}</td>
                  {canChange ? (
                    <td>
                      {l.ip ? (
                        <button type="button" onClick={() => void run(`Lift lockouts of ${l.ip}`, () => api.delete(`/ratelimit/lockouts${query({ ip: l.ip })}`)).then(lockouts.reload)}>
                          Lift
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <div class="grid two">
        <Section
          title="Rate-limit counters"
          actions={
            <label>
              Prefix <input value={prefix} onChange={(e) => setPrefix((e.target as HTMLInputElement).value)} />
            </label>
          }
        >
          <ErrorLine error={counters.error} />
          {counters.data && counters.data.items.length === 0 ? (
            <Empty>No live counters.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Window ends in</th>
                </tr>
              </thead>
              <tbody>
                {counters.data?.items.map((c) => (
                  <tr key={c.key}>
                    <td>
                      <code class="wrap">{c.key}</code>
                    </td>
                    <td>{seconds(c.ttlMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {canChange && prefix ? (
            <button type="button" class="danger" onClick={() => void run(`Reset counters ${prefix}`, () => api.delete(`/ratelimit/counters${query({ prefix })}`)).then(counters.reload)}>
              Reset counters with this prefix
            </button>
          ) : null}
        </Section>
        <Section title="Requests in flight">
          <ErrorLine error={inFlight.error} />
          {inFlight.data && inFlight.data.items.length === 0 ? (
            <Empty>Nothing in flight.</Empty>
          ) : (
            <table>
              <tbody>
                {inFlight.data?.items.map((c) => (
                  <tr key={c.key}>
                    <td>
                      <code>{c.key}</code>
                    </td>
                    <td class="num">{c.inFlight}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      </div>
    </>
  );
}
