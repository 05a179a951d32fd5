import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/**
 * The keep-alive agent the OTLP exporter sends through, held here so a stalled export can be cut: the exporter's
 * own timeout is a socket idle timeout, which a collector that trickles one byte at a time never trips.
 */
export class ExportConnections {
  #agent: HttpAgent | undefined;

  /** The exporter's `httpAgentOptions` factory. */
  readonly factory = (protocol: string): HttpAgent => (this.#agent ??= protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }));

  /**
   * Destroys every socket (a stalled export then fails). The exporter keeps the agent it was given, which opens
   * new sockets for the next export.
   */
  cut(): void {
    this.#agent?.destroy();
  }
}

/**
 * Wraps the OTLP exporter with a deadline on each export, start to finish: past it the export counts as failed and
 * its connection is cut. With the exporter allowed one export at a time, the spans held for export never exceed
 * the queue plus one batch, whatever the collector does.
 */
export class DeadlineExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #deadlineMs: number;
  readonly #connections: ExportConnections;

  constructor(inner: SpanExporter, deadlineMs: number, connections: ExportConnections) {
    this.#inner = inner;
    this.#deadlineMs = deadlineMs;
    this.#connections = connections;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      this.#connections.cut();
      done({ code: ExportResultCode.FAILED, error: new Error(`export took longer than ${this.#deadlineMs} ms; connection cut`) });
    }, this.#deadlineMs);
    timer.unref();
    this.#inner.export(spans, (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}
