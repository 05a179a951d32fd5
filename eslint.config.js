import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'demo/data/', 'data/', '.bench/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', fetch: 'readonly', AbortController: 'readonly', structuredClone: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', URLSearchParams: 'readonly', performance: 'readonly', queueMicrotask: 'readonly', setImmediate: 'readonly', AbortSignal: 'readonly', Response: 'readonly', Request: 'readonly', Headers: 'readonly', crypto: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      'no-template-curly-in-string': 'off',
    },
  },
  {
    // The dashboard runs in the browser: its globals, not Node's.
    files: ['web/**'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', location: 'readonly', navigator: 'readonly', fetch: 'readonly', URL: 'readonly', URLSearchParams: 'readonly', EventSource: 'readonly', ResizeObserver: 'readonly', HTMLElement: 'readonly', HTMLInputElement: 'readonly', HTMLSelectElement: 'readonly', HTMLDivElement: 'readonly', Event: 'readonly', MessageEvent: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
  // Layering (docs/architecture.md): dependencies point down, never up. What holds today is enforced; the rest of
  // the target is listed in that page.
  {
    files: ['src/http/**', 'src/openapi/**', 'src/store/**', 'src/counters/**', 'src/bus/**', 'src/problem.ts', 'src/log.ts'],
    ignores: ['**/*.test.ts', '**/*.case.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/pipeline/*', '**/policies/**', '**/proxy/*', '**/server/*', '**/admin/**', '**/monitor/*', '**/audit/*', '**/cli/*', '**/scan/*'], message: 'a bottom layer imports nothing above it (docs/architecture.md)' }] },
      ],
    },
  },
  {
    files: ['src/pipeline/**'],
    ignores: ['**/*.test.ts', '**/*.case.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/server/*', '**/cli/*', '**/proxy/*'], message: 'the pipeline gets its ends (proxy, respond) and its policy registry passed in (docs/architecture.md)' },
            { group: ['**/admin/**', '**/monitor/*', '**/audit/*', '**/policies/**'], message: 'the pipeline imports no policy, admin, monitor or audit code, not even types: it names the shapes it needs (docs/architecture.md)' },
          ],
        },
      ],
    },
  },
  {
    // The scanner attacks any API, Rampart or not: it shares only spec loading and HTTP helpers with the gateway.
    files: ['src/scan/**'],
    ignores: ['**/*.test.ts', '**/*.case.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/pipeline/*', '**/policies/**', '**/proxy/**', '**/server/*', '**/admin/**', '**/monitor/*', '**/audit/*', '**/cli/*', '**/config/*', '**/store/**', '**/counters/*', '**/bus/*'], message: 'src/scan shares only src/openapi and src/http with the gateway (issue 17, docs/architecture.md)' }] },
      ],
    },
  },
  {
    files: ['src/proxy/**', 'src/policies/**'],
    ignores: ['**/*.test.ts', '**/*.case.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/server/handler.ts', '**/server/respond.ts', '**/server/gateway.ts', '**/cli/*'], message: 'only the server writes responses and composes the gateway (docs/architecture.md)' }] },
      ],
    },
  },
);
