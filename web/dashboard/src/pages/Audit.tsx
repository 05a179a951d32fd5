import { useState } from 'preact/hooks';
import { api, query, type AuditRecord, type Page, type VerifyResult } from '../api.ts';
import { Empty, ErrorLine, Section, Time, describe } from '../components/ui.tsx';

interface Filter {
  type: string;
  text: string;
  since: string;
  until: string;
}

const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);

/** Search the tamper-evident trail, verify the chain against the published head, export what matches. */
export function Audit() {
  const [form, setForm] = useState<Filter>({ type: '', text: '', since: '', until: '' });
  const [filter, setFilter] = useState<Filter>(form);
  const [rows, setRows] = useState<AuditRecord[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>(undefined);
  const [verify, setVerify] = useState<VerifyResult | undefined>(undefined);
  const [verifying, setVerifying] = useState(false);
  const [searched, setSearched] = useState(false);

  const params = (f: Filter) => ({ type: f.type, text: f.text, since: iso(f.since), until: iso(f.until) });
  const load = async (f: Filter, after: string | null) => {
    try {
      const page = await api.get<Page<AuditRecord>>(`/audit/records${query({ ...params(f), limit: 50, after })}`);
      setRows((old) => (after ? [...old, ...page.items] : page.items));
      setNext(page.next);
      setError(undefined);
      setSearched(true);
    } catch (e) {
      setError(describe(e));
    }
  };
  const runVerify = async () => {
    setVerifying(true);
    try {
      setVerify(await api.get<VerifyResult>('/audit/verify'));
    } catch (e) {
      setError(describe(e));
    } finally {
      setVerifying(false);
    }
  };
  const field = (name: keyof Filter) => ({ value: form[name], onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }) });

  return (
    <>
      <h1>Audit trail</h1>
      <Section
        title="Chain verification"
        actions={
          <button type="button" onClick={() => void runVerify()} disabled={verifying}>
            {verifying ? 'Verifying…' : 'Verify the chain'}
          </button>
        }
      >
        {verify ? (
          <div role="status" data-testid="verify-result" class={verify.ok ? 'notice ok' : 'notice error'}>
            {verify.ok ? 'Chain intact' : `Chain broken at record ${verify.firstBad?.seq}: ${verify.firstBad?.reason}`} — {verify.records} records, {verify.checkpoints} signed checkpoints,{' '}
            {verify.heads} published head{verify.heads === 1 ? '' : 's'} checked{verify.head ? ` (head seq ${verify.head.seq}, ${verify.head.hash.slice(0, 16)}…)` : ''}; head file: {verify.head_status}.
          </div>
        ) : (
          <p class="help">Checks every record's hash link and MAC, each signed checkpoint, and that the store still holds the published head.</p>
        )}
      </Section>
      <Section title="Search">
        <form
          class="inline"
          aria-label="Audit search"
          onSubmit={(e) => {
            e.preventDefault();
            setFilter(form);
            void load(form, null);
          }}
        >
          <label for="a-type">Type</label>
          <input id="a-type" placeholder="auth.failure" pattern="[a-z0-9_.]{1,64}" {...field('type')} />
          <label for="a-text">Text</label>
          <input id="a-text" placeholder="request id, key id…" maxLength={200} {...field('text')} />
          <label for="a-since">Since</label>
          <input id="a-since" type="datetime-local" {...field('since')} />
          <label for="a-until">Until</label>
          <input id="a-until" type="datetime-local" {...field('until')} />
          <button type="submit">Search</button>
          <a class="button" href={`/admin/v1/audit/export${query(params(filter))}`} download="rampart-audit.jsonl">
            Export (JSON lines)
          </a>
        </form>
        <ErrorLine error={error} />
        {searched && rows.length === 0 ? (
          <Empty>No record matches.</Empty>
        ) : rows.length > 0 ? (
          <table>
            <thead>
              <tr>
                <th scope="col" class="num">
                  Seq
                </th>
                <th scope="col">Time</th>
                <th scope="col">Type</th>
                <th scope="col">Fields</th>
              </tr>
            </thead>
            <tbody data-testid="audit-rows">
              {rows.map((r) => (
                <tr key={r.seq}>
                  <td class="num">{r.seq}</td>
                  <td>
                    <Time value={r.time} />
                  </td>
                  <td>{r.type}</td>
                  <td>
                    <code class="wrap">{JSON.stringify(r.fields)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
        {next ? (
          <button type="button" onClick={() => void load(filter, next)}>
            Older records
          </button>
        ) : null}
      </Section>
    </>
  );
}
