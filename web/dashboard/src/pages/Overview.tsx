import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type SecurityEventView, type Traffic } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { Empty, ErrorLine, Section, Time, describe } from '../components/ui.tsx';
import { subscribe } from '../stream.ts';

const MAX_FEED = 100;
const DENY_COLORS = ['#b3261e', '#a15c00', '#6a1b9a', '#00695c'];

/** Requests and denies over time, latency percentiles, top consumers and IPs, live security events. */
export function Overview() {
  const [traffic, setTraffic] = useState<Traffic | undefined>(undefined);
  const [feed, setFeed] = useState<SecurityEventView[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    api.get<Traffic>('/traffic?window=900').then(setTraffic, (e: unknown) => setError(describe(e)));
    return subscribe({
      traffic: setTraffic,
      security: (events) => setFeed((old) => [...[...events].reverse(), ...old].slice(0, MAX_FEED)),
    });
  }, []);

  const times = useMemo(() => traffic?.series.map((p) => Date.parse(p.at) / 1000) ?? [], [traffic]);
  // Requests, then one line per deny reason (the four most frequent in the window; the rest as "other denies").
  const volume = useMemo(() => {
    const top = Object.entries(traffic?.denies ?? {})
      .sort((a, b) => b[1] - a[1])
      .slice(0, DENY_COLORS.length)
      .map(([code]) => code);
    const shown = new Set(top);
    const series = [
      { label: 'requests', color: '#0b5cad', values: traffic?.series.map((p) => p.requests) ?? [] },
      ...top.map((code, i) => ({ label: code, color: DENY_COLORS[i]!, values: traffic?.series.map((p) => p.denies[code] ?? 0) ?? [] })),
    ];
    if (Object.keys(traffic?.denies ?? {}).length > top.length) {
      series.push({ label: 'other denies', color: '#5f6368', values: traffic?.series.map((p) => Object.entries(p.denies).reduce((n, [code, v]) => (shown.has(code) ? n : n + v), 0)) ?? [] });
    }
    return series;
  }, [traffic]);
  const latency = useMemo(
    () => [
      { label: 'p50', color: '#1b7f3b', values: traffic?.series.map((p) => p.p50) ?? [] },
      { label: 'p95', color: '#a15c00', values: traffic?.series.map((p) => p.p95) ?? [] },
      { label: 'p99', color: '#b3261e', values: traffic?.series.map((p) => p.p99) ?? [] },
    ],
    [traffic],
  );
  const denies = Object.entries(traffic?.denies ?? {}).sort((a, b) => b[1] - a[1]);

  return (
    <>
      <h1>Overview</h1>
      <ErrorLine error={error} />
      <dl class="stats" aria-label="Last 15 minutes">
        <div>
          <dt>Requests</dt>
          <dd data-testid="stat-requests">{traffic?.requests ?? '–'}</dd>
        </div>
        <div>
          <dt>Denied</dt>
          <dd data-testid="stat-denied">{traffic?.denied ?? '–'}</dd>
        </div>
        <div>
          <dt>p50</dt>
          <dd>{fmt(traffic?.latency_ms.p50)}</dd>
        </div>
        <div>
          <dt>p95</dt>
          <dd>{fmt(traffic?.latency_ms.p95)}</dd>
        </div>
        <div>
          <dt>p99</dt>
          <dd>{fmt(traffic?.latency_ms.p99)}</dd>
        </div>
      </dl>
      <div class="grid two">
        <Section title="Requests and denies by reason (per 10 s)">
          <Chart title="Requests and denies by reason per 10 seconds" times={times} series={volume} unit="req" />
        </Section>
        <Section title="Latency percentiles">
          <Chart title="Latency percentiles per 10 seconds" times={times} series={latency} unit="ms" />
        </Section>
      </div>
      <div class="grid three">
        <Section title="Denies by reason">
          {denies.length === 0 ? <Empty>No denies in the last 15 minutes.</Empty> : <Counts rows={denies} label="Reason" />}
        </Section>
        <Section title="Top consumers">
          {traffic && traffic.top_consumers.length > 0 ? <Counts rows={traffic.top_consumers.map((c) => [c.consumer, c.requests])} label="Consumer" /> : <Empty>No authenticated traffic.</Empty>}
        </Section>
        <Section title="Top client IPs">
          {traffic && traffic.top_ips.length > 0 ? <Counts rows={traffic.top_ips.map((c) => [c.ip, c.requests])} label="Client IP" /> : <Empty>No traffic.</Empty>}
        </Section>
      </div>
      <Section title="Live security events">
        {feed.length === 0 ? (
          <Empty>Nothing yet: events appear here as they happen.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Reason</th>
                <th scope="col">Client IP</th>
                <th scope="col">Consumer / key</th>
                <th scope="col">Request</th>
              </tr>
            </thead>
            <tbody data-testid="security-feed">
              {feed.map((e, i) => (
                <tr key={`${e.at}-${i}`}>
                  <td>
                    <Time value={e.at} />
                  </td>
                  <td>
                    {e.type}
                    {e.route ? <div class="small">{e.route}</div> : null}
                  </td>
                  <td>{e.reason ?? '–'}</td>
                  <td>{e.ip ?? '–'}</td>
                  <td>{e.consumer ?? e.key_id ?? '–'}</td>
                  <td>
                    <code>{e.request_id ?? '–'}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}

function fmt(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '–' : `${ms} ms`;
}

function Counts({ rows, label }: { rows: readonly (readonly [string, number])[]; label: string }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">{label}</th>
          <th scope="col" class="num">
            Requests
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <td>{k}</td>
            <td class="num">{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
