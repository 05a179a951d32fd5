import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';

/** Loads `load()` now and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(undefined);
      },
      (e: unknown) => live && setError(describe(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: useCallback(() => setTick((t) => t + 1), []) };
}

/** A one-line account of a failed call, with the request id to find it in the gateway's log. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.status})${error.requestId ? ` — request ${error.requestId}` : ''}`;
  return error instanceof Error ? error.message : String(error);
}

/** Runs a change, reporting success or failure in the page's live region. */
export function useAction(): { run: (label: string, action: () => Promise<unknown>) => Promise<boolean>; status: ComponentChildren } {
  const [status, setStatus] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const run = useCallback(async (label: string, action: () => Promise<unknown>) => {
    try {
      await action();
      setStatus({ ok: true, text: `${label}: done` });
      return true;
    } catch (e) {
      setStatus({ ok: false, text: `${label} failed: ${describe(e)}` });
      return false;
    }
  }, []);
  return {
    run,
    status: (
      <p class={status ? (status.ok ? 'notice ok' : 'notice error') : 'notice'} role="status" aria-live="polite">
        {status?.text ?? ''}
      </p>
    ),
  };
}

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p class="notice error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Time({ value }: { value: string | number | null | undefined }) {
  if (value === null || value === undefined) return <span>–</span>;
  const date = new Date(value);
  return <time dateTime={date.toISOString()}>{date.toLocaleString()}</time>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const id = `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section aria-labelledby={id} class="card">
      <header class="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}
