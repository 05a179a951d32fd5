import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { GatewayError } from '../problem.ts';
import type { EventStreamContract } from '../pipeline/types.ts';

/**
 * A server-sent event stream checked event by event as it flows (the operation declares `text/event-stream`): each
 * event's `data` is parsed as JSON, validated against the declared schema and minimised like a JSON body
 * (undeclared properties removed, sensitive ones masked), then sent on re-serialised, so what the client gets is
 * exactly the events that passed. Comments and unknown fields are not passed on. An event over `maxEventBytes`,
 * data that is not JSON, or an event that fails its schema ends the stream (enforce) or is logged and passed as
 * sent (monitor). The SSE wire format is read by `eventsource-parser`.
 */
export class EventStreamCheck extends Transform {
  readonly #contract: EventStreamContract & { check: NonNullable<EventStreamContract['check']> };
  readonly #onViolation: (reason: string) => void;
  readonly #parser: EventSourceParser;
  readonly #decoder = new StringDecoder('utf8');
  #out: string[] = [];
  #failure: GatewayError | undefined;
  /** Bytes received since the last complete event: what one event may take. */
  #pending = 0;

  constructor(contract: EventStreamContract & { check: NonNullable<EventStreamContract['check']> }, onViolation: (reason: string) => void) {
    super();
    this.#contract = contract;
    this.#onViolation = onViolation;
    this.#parser = createParser({
      onEvent: (event) => this.#event(event),
      onRetry: (ms) => this.#out.push(`retry: ${ms}\n\n`),
    });
  }

  #event(event: EventSourceMessage): void {
    this.#pending = 0;
    if (this.#failure) return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return this.#violation('event data is not JSON', event);
    }
    const checked = this.#contract.check(data);
    if (!checked.ok) return this.#violation(checked.reason, event);
    this.#out.push(serialise(event, JSON.stringify(checked.value)));
  }

  #violation(reason: string, event: EventSourceMessage): void {
    this.#onViolation(reason);
    if (this.#contract.monitor) {
      this.#out.push(serialise(event, event.data));
      return;
    }
    this.#failure = new GatewayError('upstream_invalid_response', `event stream: ${reason}`);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending += chunk.length;
    if (this.#pending > this.#contract.maxEventBytes) {
      this.#onViolation(`event over ${this.#contract.maxEventBytes} bytes`);
      callback(new GatewayError('upstream_invalid_response', 'event stream: event too large'));
      return;
    }
    this.#parser.feed(this.#decoder.write(chunk));
    this.#flush(callback);
  }

  override _flush(callback: TransformCallback): void {
    this.#parser.feed(this.#decoder.end());
    this.#flush(callback);
  }

  #flush(callback: TransformCallback): void {
    const out = this.#out;
    this.#out = [];
    if (out.length > 0) this.push(out.join(''));
    callback(this.#failure);
  }
}

function serialise(event: EventSourceMessage, data: string): string {
  let text = '';
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  if (event.event !== undefined) text += `event: ${event.event}\n`;
  for (const line of data.split('\n')) text += `data: ${line}\n`;
  return `${text}\n`;
}
