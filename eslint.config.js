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
    // The dashboard: plain ES modules for the browser, no build step (dashboard/, served by src/server/routes/dashboard.ts).
    files: ['dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { window: 'readonly', document: 'readonly', location: 'readonly', sessionStorage: 'readonly', fetch: 'readonly',
        URL: 'readonly', URLSearchParams: 'readonly', TextDecoder: 'readonly', Node: 'readonly', ResizeObserver: 'readonly',
        AbortController: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', globalThis: 'readonly' },
    },
    rules: {
      // Data from the API is hostile: it reaches the page as text only.
      'no-restricted-properties': ['error',
        { property: 'innerHTML', message: 'Build DOM nodes (dom.js h/fill); API data is shown as text only.' },
        { property: 'outerHTML', message: 'Build DOM nodes (dom.js h/fill); API data is shown as text only.' },
        { property: 'insertAdjacentHTML', message: 'Build DOM nodes (dom.js h/fill); API data is shown as text only.' }],
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
