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
  #first = true;

  constructor(contract: EventStreamContract & { check: NonNullable<EventStreamContract['check']> }, onViolation: (reason: string) => void) {
    super();
    this.#contract = contract;
    this.#onViolation = onViolation;
    this.#parser = createParser({
      onEvent: (event) => this.#event(event),
      onRetry: (ms) => this.#out.push(`retry: ${ms}\n\n`),
      // Comments are the usual heartbeat: they pass (one line each, so they can carry nothing else).
      onComment: (comment) => {
        this.#pending = 0;
        if (!this.#failure) this.#out.push(`: ${comment.replace(/[\r\n]/g, '')}\n`);
      },
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
    let sent: string;
    try {
      const checked = this.#contract.check(data);
      if (!checked.ok) return this.#violation(checked.reason, event);
      sent = JSON.stringify(checked.value);
    } catch {
      // Nesting deep enough to exhaust the stack in validation or serialisation: not an event to pass on.
      return this.#violation('event data too deeply nested', event);
    }
    this.#out.push(serialise(event, sent));
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
    let text = this.#decoder.write(chunk);
    // The stream may start with a byte order mark, which SSE says to ignore (the parser would read it as a name).
    if (this.#first && text.length > 0) {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#parser.feed(text);
    // Checked after parsing: a chunk of many small events resets the count; only an event still open past the
    // bound (or a stream of bytes that never finishes one) is too large.
    if (this.#pending > this.#contract.maxEventBytes) {
      this.#onViolation(`event over ${this.#contract.maxEventBytes} bytes`);
      callback(new GatewayError('upstream_invalid_response', 'event stream: event too large'));
      return;
    }
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
