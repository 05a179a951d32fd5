/**
 * The demo IdP's TOTP second factor (RFC 6238, via otplib): enrolment hands out a fresh secret once (as an
 * `otpauth://` URI for authenticator apps); re-enrolling an enrolled user needs a current code of the old secret, so
 * a stolen password cannot swap the factor. A code is accepted once, within one 30-second step of the clock, and
 * five wrong codes in a row lock the factor for 15 minutes (a 6-digit code cannot be guessed online).
 */
import { generateSecret, generateURI, verifySync } from 'otplib';

/** `acr` of a token from a password login alone, and of one that also passed the TOTP check. */
export const ACR_PASSWORD = 'urn:rampart:acr:pwd';
export const ACR_MFA = 'urn:rampart:acr:mfa';
const PERIOD_SECONDS = 30;
export const MAX_WRONG_CODES = 5;
export const LOCK_MS = 15 * 60_000;

export interface Enrolment {
  readonly secret: string;
  readonly otpauthUri: string;
}

interface FactorState {
  secret: string;
  /** The last accepted time step: a code is never accepted twice (replay). */
  lastStep: number;
  wrong: number;
  lockedUntil: number;
}

/** TOTP secrets by user id, in memory (a restart forgets enrolments, like every demo state). */
export class TotpFactor {
  readonly #users = new Map<string, FactorState>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * A new secret for the user. An enrolled user must prove the current factor with `code` (the old secret's code);
   * undefined when it is missing or wrong.
   */
  enroll(userId: string, username: string, code?: string): Enrolment | undefined {
    if (this.#users.has(userId) && (code === undefined || !this.check(userId, code))) return undefined;
    const secret = generateSecret();
    this.#users.set(userId, { secret, lastStep: -1, wrong: 0, lockedUntil: 0 });
    return { secret, otpauthUri: generateURI({ issuer: 'Rampart demo', label: username, secret }) };
  }

  isEnrolled(userId: string): boolean {
    return this.#users.has(userId);
  }

  /**
   * Whether `code` is the user's current code (±1 step), not used before, with the factor not locked. Synchronous
   * from read to write, so two requests with one code cannot both pass.
   */
  check(userId: string, code: string): boolean {
    const state = this.#users.get(userId);
    const now = this.#now();
    if (state === undefined || state.lockedUntil > now) return false;
    const result = /^[0-9]{6}$/.test(code)
      ? verifySync({ secret: state.secret, token: code, epochTolerance: PERIOD_SECONDS, epoch: Math.floor(now / 1000), ...(state.lastStep >= 0 ? { afterTimeStep: state.lastStep } : {}) })
      : { valid: false as const };
    if (!result.valid) {
      state.wrong++;
      if (state.wrong >= MAX_WRONG_CODES) {
        state.lockedUntil = now + LOCK_MS;
        state.wrong = 0;
      }
      return false;
    }
    state.wrong = 0;
    state.lastStep = (result as { timeStep: number }).timeStep;
    return true;
  }
}
