import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { currentSession, logout, useSession, type Session } from './api.ts';
import { openStream, subscribe } from './stream.ts';
import { Login } from './pages/Login.tsx';
import { Overview } from './pages/Overview.tsx';
import { Incidents } from './pages/Incidents.tsx';
import { Keys } from './pages/Keys.tsx';
import { Audit } from './pages/Audit.tsx';
import { Routes } from './pages/Routes.tsx';
import { Limits } from './pages/Limits.tsx';
import './styles.css';

const PAGES = [
  { path: 'overview', label: 'Overview' },
  { path: 'incidents', label: 'Incidents' },
  { path: 'keys', label: 'Consumers and keys' },
  { path: 'audit', label: 'Audit trail' },
  { path: 'routes', label: 'Routes' },
  { path: 'limits', label: 'Rate limits' },
] as const;
type PagePath = (typeof PAGES)[number]['path'];

function pageOfHash(): PagePath {
  const wanted = location.hash.replace(/^#\/?/, '');
  return PAGES.find((p) => p.path === wanted)?.path ?? 'overview';
}

function App() {
  const [session, setSession] = useState<Session | undefined | null>(null);
  const [page, setPage] = useState<PagePath>(pageOfHash());
  const [alert, setAlert] = useState<string | undefined>(undefined);
  const lost = useCallback(() => setSession(undefined), []);

  useEffect(() => {
    currentSession().then(setSession, () => setSession(undefined));
    const onHash = () => setPage(pageOfHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useSession(session ?? undefined, lost);

  useEffect(() => {
    if (!session) return;
    const close = openStream(lost);
    const off = subscribe({ incident: (i) => i.event === 'incident.opened' && setAlert(`New ${i.severity} incident: ${i.summary}`) });
    return () => {
      off();
      close();
    };
  }, [session, lost]);

  useEffect(() => {
    const title = PAGES.find((p) => p.path === page)?.label;
    document.title = session ? `${title} · Rampart` : 'Log in · Rampart';
  }, [page, session]);

  if (session === null) return <p class="loading">Loading…</p>;
  if (session === undefined) return <Login onLogin={setSession} />;
  const canChange = session.role === 'admin';

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Rampart</span>
        <nav aria-label="Dashboard">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={`#/${p.path}`} aria-current={p.path === page ? 'page' : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {session.name} ({session.role === 'admin' ? 'admin' : 'read-only'}){' '}
          <button type="button" class="link" onClick={() => void logout().finally(lost)}>
            Log out
          </button>
        </span>
      </header>
      {alert ? (
        <div class="banner" role="alert">
          {alert}{' '}
          <a href="#/incidents" onClick={() => setAlert(undefined)}>
            See incidents
          </a>{' '}
          <button type="button" class="link" onClick={() => setAlert(undefined)} aria-label="Dismiss">
            ×
          </button>
        </div>
      ) : null}
      <main id="main" tabIndex={-1}>
        {page === 'overview' ? <Overview /> : null}
        {page === 'incidents' ? <Incidents canChange={canChange} /> : null}
        {page === 'keys' ? <Keys canChange={canChange} /> : null}
        {page === 'audit' ? <Audit /> : null}
        {page === 'routes' ? <Routes /> : null}
        {page === 'limits' ? <Limits canChange={canChange} /> : null}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
