import { useState } from 'preact/hooks';
import { api, query, type Consumer, type Key, type Page } from '../api.ts';
import { Empty, ErrorLine, Section, Time, useAction, useLoad } from '../components/ui.tsx';

const list = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** Consumers and their API keys: create (the secret shown once), rotate with grace, revoke; self-service keys marked. */
export function Keys({ canChange }: { canChange: boolean }) {
  const [consumer, setConsumer] = useState('');
  const consumers = useLoad(() => api.get<Page<Consumer>>('/consumers?limit=500'), []);
  const keys = useLoad(() => api.get<Page<Key>>(`/keys${query({ consumer, limit: 500 })}`), [consumer]);
  const [secret, setSecret] = useState<{ id: string; key: string } | undefined>(undefined);
  const { run, status } = useAction();

  return (
    <>
      <h1>Consumers and keys</h1>
      {status}
      {secret ? <SecretOnce secret={secret} onClose={() => setSecret(undefined)} /> : null}
      <div class="grid two">
        <Section title="Consumers">
          <ErrorLine error={consumers.error} />
          {canChange ? <NewConsumer onCreate={(body) => void run('Create consumer', () => api.post('/consumers', body)).then(consumers.reload)} /> : null}
          {consumers.data && consumers.data.items.length === 0 ? (
            <Empty>No consumers yet.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Name</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Roles</th>
                  <th scope="col">
                    <span class="sr-only">Keys</span>
                  </th>
                </tr>
              </thead>
              <tbody data-testid="consumers">
                {consumers.data?.items.map((c) => (
                  <tr key={c.id}>
                    <td>{c.id}</td>
                    <td>
                      {c.name} {c.metadata['self_service'] === true ? <span class="badge">self-service</span> : null}
                    </td>
                    <td>{c.tenant ?? '–'}</td>
                    <td>{c.roles.join(', ') || '–'}</td>
                    <td>
                      <button type="button" class="link" onClick={() => setConsumer(c.id)} aria-label={`Show keys of ${c.id}`}>
                        Keys
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
        <Section
          title="API keys"
          actions={
            consumer ? (
              <button type="button" class="link" onClick={() => setConsumer('')}>
                All consumers
              </button>
            ) : null
          }
        >
          <ErrorLine error={keys.error} />
          {canChange ? (
            <NewKey
              consumers={consumers.data?.items ?? []}
              preset={consumer}
              onCreate={(body) =>
                void run('Create key', async () => {
                  const created = await api.post<Key & { key: string }>('/keys', body);
                  setSecret({ id: created.id, key: created.key });
                }).then(keys.reload)
              }
            />
          ) : null}
          {keys.data && keys.data.items.length === 0 ? (
            <Empty>No keys{consumer ? ` for ${consumer}` : ''}.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Key id</th>
                  <th scope="col">Consumer</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Status</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  {canChange ? <th scope="col"><span class="sr-only">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody data-testid="keys">
                {keys.data?.items.map((k) => (
                  <tr key={k.id}>
                    <td>
                      <code>{k.id}</code> {k.metadata['self_service'] === true ? <span class="badge">self-service</span> : null}
                    </td>
                    <td>{k.consumer}</td>
                    <td>{k.scopes.join(' ') || '–'}</td>
                    <td>
                      <span class={`badge ${k.status}`}>{k.status}</span>
                    </td>
                    <td>
                      <Time value={k.expires_at} />
                    </td>
                    <td>
                      <Time value={k.last_used_at} />
                    </td>
                    {canChange ? (
                      <td class="actions">
                        {k.status === 'active' ? (
                          <>
                            <button
                              type="button"
                              title="A successor key; this one keeps working for an hour"
                              onClick={() =>
                                void run(`Rotate ${k.id}`, async () => {
                                  const rotated = await api.post<Key & { key: string }>(`/keys/${encodeURIComponent(k.id)}/rotate`, { grace_seconds: 3600 });
                                  setSecret({ id: rotated.id, key: rotated.key });
                                }).then(keys.reload)
                              }
                            >
                              Rotate
                            </button>{' '}
                          </>
                        ) : null}
                        {k.status !== 'revoked' ? (
                          <button
                            type="button"
                            class="danger"
                            onClick={() => {
                              if (window.confirm(`Revoke key ${k.id}? Every request with it is refused from now on.`)) void run(`Revoke ${k.id}`, () => api.post(`/keys/${encodeURIComponent(k.id)}/revoke`)).then(keys.reload);
                            }}
                          >
                            Revoke
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
      </div>
    </>
  );
}

function NewConsumer({ onCreate }: { onCreate: (body: Record<string, unknown>) => void }) {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [tenant, setTenant] = useState('');
  const [roles, setRoles] = useState('');
  return (
    <form
      class="inline"
      aria-label="New consumer"
      onSubmit={(e) => {
        e.preventDefault();
        onCreate({ ...(id ? { id } : {}), name, ...(tenant ? { tenant } : {}), roles: list(roles) });
        setId('');
        setName('');
      }}
    >
      <label for="nc-id">Id</label>
      <input id="nc-id" value={id} maxLength={128} onInput={(e) => setId((e.target as HTMLInputElement).value)} />
      <label for="nc-name">Name</label>
      <input id="nc-name" required value={name} maxLength={256} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      <label for="nc-tenant">Tenant</label>
      <input id="nc-tenant" value={tenant} onInput={(e) => setTenant((e.target as HTMLInputElement).value)} />
      <label for="nc-roles">Roles</label>
      <input id="nc-roles" value={roles} onInput={(e) => setRoles((e.target as HTMLInputElement).value)} />
      <button type="submit">Create consumer</button>
    </form>
  );
}

function NewKey({ consumers, preset, onCreate }: { consumers: readonly Consumer[]; preset: string; onCreate: (body: Record<string, unknown>) => void }) {
  const [consumer, setConsumer] = useState(preset);
  const [scopes, setScopes] = useState('');
  const [expires, setExpires] = useState('');
  const chosen = consumer || preset;
  return (
    <form
      class="inline"
      aria-label="New API key"
      onSubmit={(e) => {
        e.preventDefault();
        onCreate({ consumer: chosen, scopes: list(scopes), ...(expires ? { expires_at: new Date(expires).toISOString() } : {}) });
      }}
    >
      <label for="nk-consumer">Consumer</label>
      <select id="nk-consumer" required value={chosen} onChange={(e) => setConsumer((e.target as HTMLSelectElement).value)}>
        <option value="">choose…</option>
        {consumers.map((c) => (
          <option key={c.id} value={c.id}>
            {c.id}
          </option>
        ))}
      </select>
      <label for="nk-scopes">Scopes</label>
      <input id="nk-scopes" value={scopes} onInput={(e) => setScopes((e.target as HTMLInputElement).value)} />
      <label for="nk-expires">Expires</label>
      <input id="nk-expires" type="datetime-local" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
      <button type="submit">Create key</button>
    </form>
  );
}

/** The new secret, shown this once: it is not stored anywhere the dashboard or the API could show it again. */
function SecretOnce({ secret, onClose }: { secret: { id: string; key: string }; onClose: () => void }) {
  return (
    <div class="secret" role="alertdialog" aria-labelledby="secret-title" aria-describedby="secret-help">
      <h2 id="secret-title">New key {secret.id}</h2>
      <p id="secret-help">Copy it now: it is shown once and cannot be shown again.</p>
      <output data-testid="new-secret">{secret.key}</output>
      <div>
        <button type="button" onClick={() => void navigator.clipboard?.writeText(secret.key)}>
          Copy
        </button>{' '}
        <button type="button" onClick={onClose} autoFocus>
          I have stored it
        </button>
      </div>
    </div>
  );
}
