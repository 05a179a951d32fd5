import { useState } from 'preact/hooks';
import { api, type Page, type RouteView } from '../api.ts';
import { ErrorLine, Section, useLoad } from '../components/ui.tsx';

/** The compiled route table: what guards each operation; operations nobody restricts are flagged. */
export function Routes() {
  const table = useLoad(() => api.get<Page<RouteView> & { unprotected: number }>('/routes?limit=500'), []);
  const [onlyUnprotected, setOnlyUnprotected] = useState(false);
  const rows = (table.data?.items ?? []).filter((r) => !onlyUnprotected || r.unprotected);
  return (
    <>
      <h1>Routes</h1>
      <ErrorLine error={table.error} />
      <Section
        title={`Compiled routes${table.data ? ` (${table.data.items.length}, ${table.data.unprotected} unprotected)` : ''}`}
        actions={
          <label>
            <input type="checkbox" checked={onlyUnprotected} onChange={(e) => setOnlyUnprotected((e.target as HTMLInputElement).checked)} /> Only unprotected
          </label>
        }
      >
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">API</th>
                <th scope="col">Method</th>
                <th scope="col">Path</th>
                <th scope="col">Operation</th>
                <th scope="col">Authentication</th>
                <th scope="col">Scopes</th>
                <th scope="col">Roles</th>
                <th scope="col">Rules</th>
                <th scope="col">Ownership</th>
                <th scope="col">Validation</th>
                <th scope="col">Encrypted fields</th>
                <th scope="col">WAF fields</th>
                <th scope="col">Rate limits</th>
              </tr>
            </thead>
            <tbody data-testid="routes">
              {rows.map((r) => (
                <tr key={`${r.api} ${r.method} ${r.path}`} class={r.unprotected ? 'flagged' : undefined}>
                  <td>{r.api}</td>
                  <td>{r.method}</td>
                  <td>
                    <code>{r.path}</code>
                  </td>
                  <td>{r.operation}</td>
                  <td>{r.unprotected ? <span class="badge high">unprotected</span> : r.auth}</td>
                  <td>{r.scopes}</td>
                  <td>{r.roles}</td>
                  <td>
                    <code class="wrap">{r.rules}</code>
                  </td>
                  <td>
                    <code class="wrap">{r.ownership}</code>
                  </td>
                  <td>{r.validation ? 'schema' : '–'}</td>
                  <td>{[...new Set([...r.encrypted_fields.request, ...r.encrypted_fields.response])].join(' ') || '–'}</td>
                  <td>
                    {r.waf.mode}
                    {r.waf.fields.length > 0 ? <div class="small">{r.waf.fields.join(' ')}</div> : null}
                  </td>
                  <td>{r.rate_limits.map((l) => `${l.name} ${l.limit ?? ''} by ${l.key}`).join('; ') || '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  );
}
