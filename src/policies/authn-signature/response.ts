import { randomBytes } from 'node:crypto';
import { serializeInnerList } from 'structured-headers';
import { httpbis } from 'http-message-signatures';
import { ConfigIssueError } from '../../config/errors.ts';
import { contentDigestOf } from '../../http/digest.ts';
import type { PolicyBuildInput, PolicyFactory, RequestContext, RequestPolicy, ResponseSigner } from '../../pipeline/types.ts';
import { parseComponent, type Component } from './components.ts';
import { gatewaySignature, upstreamKeys } from './index.ts';
import { responseSigningSchema, type UpstreamSigningConfig } from './schema.ts';

/** `@status` (RFC 9421 §2.2.9), the one derived component of a response (the request ones are checkComponent's). */
const STATUS: Component = { name: '@status', id: '"@status"', item: ['@status', new Map()] };

/** Options for tests: the clock (ms since the epoch) and the nonce source. */
export interface ResponseSignerOptions {
  readonly now?: () => number;
  readonly nonce?: () => string;
}

/**
 * The signer of this API's responses: Ed25519 with its first key over `@status` and the covered fields the response
 * has, with `created`, `expires`, `keyid`, `alg` and a random `nonce`, under `label` (RFC 9421 §2.2.9). Buffered
 * bodies get a sha-256 `Content-Digest` first when it is covered, so the signature vouches for the body bytes.
 * @throws ConfigIssueError naming `at` on a missing or unusable key or component (derived ones other than `@status`
 *   describe requests: refused, since a response signature would then cover nothing the client can check).
 */
export function createResponseSigner(config: UpstreamSigningConfig, at: string, options: ResponseSignerOptions = {}): ResponseSigner {
  const [key] = upstreamKeys(config, at);
  const components = config.components.map((text, i): Component => {
    if (text.replaceAll('"', '') === '@status') return STATUS;
    let component: Component;
    try {
      component = parseComponent(text);
    } catch (error) {
      throw new ConfigIssueError(`${at}.components[${i}]`, (error as Error).message);
    }
    if (component.name.startsWith('@')) throw new ConfigIssueError(`${at}.components[${i}]`, `${component.name} describes a request; a response signature covers @status and fields`);
    return component;
  });
  const withStatus = components.includes(STATUS) ? components : [STATUS, ...components];
  const digest = components.some((c) => c.name === 'content-digest');
  const now = options.now ?? Date.now;
  const nonce = options.nonce ?? (() => randomBytes(16).toString('base64url'));
  return {
    sign(status, headers, body) {
      if (digest && body !== undefined && headers['content-digest'] === undefined) headers['content-digest'] = contentDigestOf(body);
      const fields: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) fields[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
      const covered = withStatus.filter((c) => c.name === '@status' || fields[c.name] !== undefined);
      Object.assign(
        headers,
        gatewaySignature(key!, config, covered, Math.floor(now() / 1000), nonce(), (inner) => {
          const base = httpbis.createSignatureBase({ fields: covered.map((c) => c.id) }, { status, headers: fields });
          base.push(['"@signature-params"', [serializeInnerList(inner)]]);
          return httpbis.formatSignatureBase(base);
        }),
      );
    },
  };
}

/** Hands the send step this API's response signer; undefined when response signing is off. */
export function createResponseSigningPolicy(input: PolicyBuildInput, config: UpstreamSigningConfig): RequestPolicy | undefined {
  if (!config.enabled) return undefined;
  const signer = createResponseSigner(config, `apis[${input.apiIndex}].response_signing`);
  return {
    name: 'response-signing',
    stage: 'credential',
    run(ctx: RequestContext): void {
      ctx.responseSigner = signer;
    },
  };
}

/** The registry entry (src/policies/index.ts): response signing and its `apis[].response_signing` setting. */
export const responseSigningPolicy: PolicyFactory = {
  name: 'response-signing',
  setting: { key: 'response_signing', schema: responseSigningSchema },
  // The loader validated and defaulted the value against responseSigningSchema.
  build: (input, setting) => ({ request: createResponseSigningPolicy(input, setting as UpstreamSigningConfig) }),
};
