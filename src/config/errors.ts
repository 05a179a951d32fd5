/** One problem found in a config file: where (YAML path and line), what, and how to fix it. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
  readonly line?: number;
}

/** Thrown when a config cannot be used. The message lists every issue, each naming its config path. */
export class ConfigError extends Error {
  readonly file: string;
  readonly issues: readonly ConfigIssue[];

  constructor(file: string, issues: readonly ConfigIssue[]) {
    super(`${file}: invalid configuration\n` + issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
  }
}

/**
 * Thrown by a policy factory (or anything compiling the config) for one problem at one config path: the compiler
 * turns it into that issue as it stands, where a plain Error's message is filed under the API's path.
 */
export class ConfigIssueError extends Error {
  readonly issue: ConfigIssue;

  constructor(path: string, message: string, hint?: string, options?: ErrorOptions) {
    super(`${path}: ${message}${hint ? `. Fix: ${hint}` : ''}`, options);
    this.name = 'ConfigIssueError';
    this.issue = { path, message, ...(hint ? { hint } : {}) };
  }
}

/** Whether `path` is a place in the config file (`apis[0].auth.jwt`), not a place in a spec (`x-rampart-auth on operation op`). */
export function isConfigPath(path: string): boolean {
  return /^[a-z_]+(?:\[\d+\]|\.[A-Za-z0-9_-]+)*(?:\[\d+\]|\.[A-Za-z0-9_.-]+)*$/.test(path);
}

function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.path : `${issue.path} (line ${issue.line})`;
  return `  - ${where}: ${issue.message}${issue.hint ? `. Fix: ${issue.hint}` : ''}`;
}

/** `/apis/0/upstream` → `apis[0].upstream`. */
export function pointerToPath(pointer: string): string {
  if (pointer === '' || pointer === '/') return '(root)';
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}
