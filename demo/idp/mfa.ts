/**
 * The demo IdP's TOTP second factor (RFC 6238, via otplib): enrolment hands out a fresh secret once (as an
 * `otpauth://` URI for authenticator apps), and a code is accepted once, within one 30-second step of the clock.
 */
import { generateSecret, generateURI, verify } from 'otplib';

/** `acr` of a token from a password login alone, and of one that also passed the TOTP check. */
export const ACR_PASSWORD = 'urn:rampart:acr:pwd';
export const ACR_MFA = 'urn:rampart:acr:mfa';
const PERIOD_SECONDS = 30;

export interface Enrolment {
  readonly secret: string;
  readonly otpauthUri: string;
}

/** TOTP secrets by user id, in memory (a restart forgets enrolments, like every demo state). */
export class TotpFactor {
  readonly #secrets = new Map<string, string>();
  /** The last accepted time step per user: a code is never accepted twice (replay). */
  readonly #lastStep = new Map<string, number>();

  /** A new secret for the user, replacing any previous one. */
  enroll(userId: string, username: string): Enrolment {
    const secret = generateSecret();
    this.#secrets.set(userId, secret);
    this.#lastStep.delete(userId);
    return { secret, otpauthUri: generateURI({ issuer: 'Rampart demo', label: username, secret }) };
  }

  isEnrolled(userId: string): boolean {
    return this.#secrets.has(userId);
  }

  /** Whether `code` is the user's current code (±1 step), not used before. */
  async check(userId: string, code: string, nowMs = Date.now()): Promise<boolean> {
    const secret = this.#secrets.get(userId);
    if (secret === undefined || !/^[0-9]{6}$/.test(code)) return false;
    const last = this.#lastStep.get(userId);
    const result = await verify({ secret, token: code, epochTolerance: PERIOD_SECONDS, epoch: Math.floor(nowMs / 1000), ...(last === undefined ? {} : { afterTimeStep: last }) });
    if (!result.valid) return false;
    this.#lastStep.set(userId, (result as { timeStep: number }).timeStep);
    return true;
  }
}
