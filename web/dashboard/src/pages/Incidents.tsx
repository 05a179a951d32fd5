import { useEffect, useState } from 'preact/hooks';
import { api, query, type Block, type Incident, type Page } from '../api.ts';
import { Empty, ErrorLine, Section, Time, useAction, useLoad } from '../components/ui.tsx';
import { subscribe } from '../stream.ts';

/** Incidents (newest first) with their evidence, containment and timeline; lift a block, reinstate a key, resolve. */
export function Incidents({ canChange }: { canChange: boolean }) {
  const [status, setStatus] = useState<'open' | 'resolved' | ''>('open');
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const list = useLoad(() => api.get<Page<Incident>>(`/incidents${query({ status, limit: 100 })}`), [status]);
  const blocks = useLoad(() => api.get<Page<Block>>('/blocks?limit=100'), []);
  const { run, status: notice } = useAction();

  useEffect(
    () =>
      subscribe({
        incident: () => {
          list.reload();
          blocks.reload();
        },
      }),
    [list.reload, blocks.reload],
  );

  const incident = list.data?.items.find((i) => i.id === selected);
  const refresh = () => {
    list.reload();
    blocks.reload();
  };

  return (
    <>
      <h1>Incidents</h1>
      {notice}
      <div class="grid two wide-left">
        <Section
          title="Incidents"
          actions={
            <label>
              Status{' '}
              <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value as typeof status)}>
                <option value="open">open</option>
                <option value="resolved">resolved</option>
                <option value="">all</option>
              </select>
            </label>
          }
        >
          <ErrorLine error={list.error} />
          {list.data && list.data.items.length === 0 ? (
            <Empty>No {status} incidents.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Opened</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span class="sr-only">Details</span>
                  </th>
                </tr>
              </thead>
              <tbody data-testid="incidents">
                {list.data?.items.map((i) => (
                  <tr key={i.id} aria-current={i.id === selected ? 'true' : undefined}>
                    <td>
                      <Time value={i.firstSeen} />
                    </td>
                    <td>{i.kind}</td>
                    <td>
                      <span class={`badge ${i.severity}`}>{i.severity}</span>
                    </td>
                    <td>{subjectText(i.subject)}</td>
                    <td>{i.status}</td>
                    <td>
                      <button type="button" class="link" onClick={() => setSelected(i.id)} aria-label={`Show incident ${i.id}`}>
                        Show
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
        <Section title="Active IP blocks">
          <ErrorLine error={blocks.error} />
          {blocks.data && blocks.data.items.length === 0 ? (
            <Empty>No IP is blocked.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">IP</th>
                  <th scope="col">Until</th>
                  <th scope="col">Reason</th>
                  {canChange ? <th scope="col"><span class="sr-only">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody data-testid="blocks">
                {blocks.data?.items.map((b) => (
                  <tr key={b.ip}>
                    <td>{b.ip}</td>
                    <td>
                      <Time value={b.until} />
                    </td>
                    <td>{b.reason}</td>
                    {canChange ? (
                      <td>
                        <button type="button" onClick={() => void run(`Lift block on ${b.ip}`, () => api.delete(`/blocks/${encodeURIComponent(b.ip)}`)).then(refresh)}>
                          Lift block
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      </div>
      {incident ? <IncidentDetail incident={incident} canChange={canChange} run={run} refresh={refresh} /> : null}
    </>
  );
}

function subjectText(subject: Record<string, string | undefined>): string {
  return Object.entries(subject)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function IncidentDetail({ incident, canChange, run, refresh }: { incident: Incident; canChange: boolean; run: ReturnType<typeof useAction>['run']; refresh: () => void }) {
  const [note, setNote] = useState('');
  return (
    <Section title={`Incident ${incident.id}`}>
      <p>{incident.summary}</p>
      <dl class="facts">
        <dt>Kind</dt>
        <dd>{incident.kind}</dd>
        <dt>Severity</dt>
        <dd>{incident.severity}</dd>
        <dt>Subject</dt>
        <dd>{subjectText(incident.subject)}</dd>
        <dt>Count</dt>
        <dd>{incident.count}</dd>
        <dt>First seen</dt>
        <dd>
          <Time value={incident.firstSeen} />
        </dd>
        <dt>Last seen</dt>
        <dd>
          <Time value={incident.lastSeen} />
        </dd>
        {incident.resolvedBy ? (
          <>
            <dt>Resolved by</dt>
            <dd>
              {incident.resolvedBy}, <Time value={incident.resolvedAt} />
            </dd>
          </>
        ) : null}
      </dl>
      <h3>Evidence</h3>
      <p>
        Counts:{' '}
        {Object.entries(incident.evidence.counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || '–'}
      </p>
      <p>
        Sample requests (find them with the audit search):{' '}
        {incident.evidence.requestIds.slice(-10).map((id) => (
          <code key={id} class="chip">
            {id}
          </code>
        ))}
      </p>
      <h3>Containment</h3>
      {incident.actions.length === 0 ? (
        <Empty>No action was taken.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Status</th>
              <th scope="col">At</th>
              {canChange ? <th scope="col"><span class="sr-only">Undo</span></th> : null}
            </tr>
          </thead>
          <tbody data-testid="actions">
            {incident.actions.map((a) => (
              <tr key={a.id}>
                <td>{a.type}</td>
                <td>{a.target}</td>
                <td>{a.status}</td>
                <td>
                  <Time value={a.at} />
                </td>
                {canChange ? (
                  <td>
                    {a.status === 'applied' && a.type === 'block_ip' ? (
                      <button type="button" onClick={() => void run(`Lift block on ${a.target}`, () => api.delete(`/blocks/${encodeURIComponent(a.target)}`)).then(refresh)}>
                        Lift block
                      </button>
                    ) : a.status === 'applied' && a.type === 'suspend_key' ? (
                      <button type="button" onClick={() => void run(`Reinstate key ${a.target}`, () => api.post(`/keys/${encodeURIComponent(a.target)}/reinstate`)).then(refresh)}>
                        Reinstate key
                      </button>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Timeline</h3>
      <ol class="timeline">
        {incident.timeline.map((t, i) => (
          <li key={i}>
            <Time value={t.at} /> <strong>{t.event}</strong> {t.detail ? <code>{JSON.stringify(t.detail)}</code> : null}
          </li>
        ))}
      </ol>
      {canChange && incident.status === 'open' ? (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void run(`Resolve ${incident.id}`, () => api.post(`/incidents/${encodeURIComponent(incident.id)}/resolve`, note ? { note } : {})).then(refresh);
          }}
        >
          <label for="resolve-note">Note</label>
          <input id="resolve-note" value={note} maxLength={500} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
          <button type="submit">Resolve and revert containment</button>
        </form>
      ) : null}
    </Section>
  );
}
