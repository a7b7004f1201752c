// Lint rules, including the architecture's import boundaries (docs/architecture.md):
// core/ imports nothing of Spool; only storage/sqlite imports better-sqlite3; everything above the
// seam sees storage through storage/store.ts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.spool/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
        setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly',
        URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', queueMicrotask: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Above the seam: storage only through storage/store.ts (and open-store.ts, which maps URLs to drivers).
    files: ['src/**/*.ts'],
    ignores: ['src/storage/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'better-sqlite3', message: 'Only src/storage/sqlite may import better-sqlite3.' },
          { name: 'pg', message: 'Only src/storage/postgres may import pg.' },
        ],
        patterns: [{ group: ['**/storage/sqlite/**', '**/storage/postgres/**'], message: 'Reach storage through storage/store.ts.' }],
      }],
    },
  },
  {
    files: ['src/storage/**/*.ts'],
    ignores: ['src/storage/sqlite/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'better-sqlite3', message: 'Only src/storage/sqlite may import better-sqlite3.' }] }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['../*', '!./*'], message: 'core/ is pure: it imports nothing of Spool outside core/.' }],
        paths: [{ name: 'better-sqlite3', message: 'core/ does no I/O.' }],
      }],
    },
  },
);
