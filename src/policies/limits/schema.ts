import { byteSize, durationMs } from '../../config/refs.ts';

/** Listener-wide request limits (config path `limits`). */
export const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Request size and time limits applied before any other stage.',
  properties: {
    max_url_length: {
      type: 'integer',
      minimum: 64,
      maximum: 65536,
      default: 8192,
      description: 'Longest request target (path + query) in bytes; longer answers 414.',
    },
    max_header_bytes: byteSize(16384, 'Largest request line + headers in bytes; larger answers 431.'),
    max_body_bytes: byteSize(1048576, 'Default largest request body in bytes; larger answers 413. Overridable per API and operation.'),
    headers_timeout_ms: durationMs(10000, 'Time a client has to send all request headers (slowloris defence); then 408.'),
    request_timeout_ms: durationMs(30000, 'Time a client has to send the whole request, body included; then 408.'),
    keep_alive_timeout_ms: durationMs(5000, 'Idle time before a keep-alive connection is closed.'),
    http2_max_resets: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      default: 200,
      description:
        'Streams an HTTP/2 client may reset (RST_STREAM before the answer) per connection within 10 s; past it the connection is closed with GOAWAY (rapid reset, CVE-2023-44487). A reset request is never forwarded upstream.',
    },
  },
} as const;
