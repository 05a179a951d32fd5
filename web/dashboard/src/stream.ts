import type { Incident, SecurityEventView, Traffic } from './api.ts';

/** What the admin event stream (GET /admin/v1/stream) delivers. */
export interface StreamHandlers {
  traffic?(traffic: Traffic): void;
  security?(events: readonly SecurityEventView[], dropped: number): void;
  incident?(incident: Pick<Incident, 'id' | 'kind' | 'severity' | 'status' | 'summary'> & { readonly event: string }): void;
}

type Listener = { readonly handlers: StreamHandlers };
const listeners = new Set<Listener>();
let source: EventSource | undefined;

function dispatch<K extends keyof StreamHandlers>(kind: K, data: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return;
  }
  for (const l of listeners) {
    const handler = l.handlers[kind];
    if (!handler) continue;
    if (kind === 'security') {
      const { events, dropped } = parsed as { events: SecurityEventView[]; dropped: number };
      (handler as NonNullable<StreamHandlers['security']>)(events, dropped);
    } else (handler as (value: never) => void)(parsed as never);
  }
}

/** Opens the one stream of this tab (shared by every page); `onEnded` runs when the server ends the session. */
export function openStream(onEnded: () => void): () => void {
  source?.close();
  const es = new EventSource('/admin/v1/stream?window=900');
  source = es;
  es.addEventListener('traffic', (e) => dispatch('traffic', (e as MessageEvent<string>).data));
  es.addEventListener('security', (e) => dispatch('security', (e as MessageEvent<string>).data));
  es.addEventListener('incident', (e) => dispatch('incident', (e as MessageEvent<string>).data));
  es.addEventListener('session', () => {
    es.close();
    onEnded();
  });
  return () => {
    es.close();
    if (source === es) source = undefined;
  };
}

/** Subscribes a page to the stream; returns the unsubscribe function. */
export function subscribe(handlers: StreamHandlers): () => void {
  const listener = { handlers };
  listeners.add(listener);
  return () => listeners.delete(listener);
}
