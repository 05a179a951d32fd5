/**
 * Largest body the gateway ever holds in memory for one response: what the proxy buffers for response checks and
 * what a compressed body may decode to (decompression bombs). `apis[].response.max_body_bytes` cannot exceed it.
 */
export const MAX_RESPONSE_BUFFER_BYTES = 8 * 1024 * 1024;
