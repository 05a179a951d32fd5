import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

const REF = /^\$\{(env|file):([^}]+)\}$/;

export interface Reference {
  readonly kind: 'env' | 'file';
  /** Env var name, or an absolute file path. */
  readonly target: string;
}

/** Parses `${env:NAME}` / `${file:path}`; a relative path is taken from `baseDir`. Returns undefined for literals. */
export function parseReference(value: string, baseDir: string): Reference | undefined {
  const match = REF.exec(value);
  if (!match) return undefined;
  const kind = match[1] as 'env' | 'file';
  const target = match[2]!.trim();
  return { kind, target: kind === 'file' && !isAbsolute(target) ? resolve(baseDir, target) : target };
}

/**
 * Reads what a reference points to. Throws an Error whose message names the reference (never its value).
 * File contents are trimmed of one trailing newline, as secret files usually end with one.
 */
export function readReference(ref: Reference, env: NodeJS.ProcessEnv): string {
  if (ref.kind === 'env') {
    const value = env[ref.target];
    if (value === undefined || value === '') throw new Error(`environment variable ${ref.target} is not set`);
    return value;
  }
  try {
    return readFileSync(ref.target, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new Error(`cannot read file ${ref.target} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
}
