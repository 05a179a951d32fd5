import { useState } from 'preact/hooks';
import { login, type Session } from '../api.ts';
import { describe } from '../components/ui.tsx';

/** Token login: the token is sent once, over the admin listener, and never kept by the page. */
export function Login({ onLogin }: { onLogin: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const session = await login(token);
      setToken('');
      onLogin(session);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="login">
      <h1>Rampart</h1>
      <form onSubmit={submit} aria-describedby="login-help">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="off" required minLength={32} value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <p id="login-help" class="help">
          A token from <code>admin.tokens</code>. The session ends after a while without use.
        </p>
        <button type="submit" disabled={busy}>
          Log in
        </button>
        {error ? (
          <p class="notice error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}
