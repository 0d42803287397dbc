// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.bench/', '**/fixtures/**', 'eslint.config.js', 'scripts/*.mjs', 'agent/native/*.mjs', 'examples/', '.cache/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports (project style).' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['agent/src/**/*.ts', 'aggregator/src/**/*.ts', 'shared/src/**/*.ts', 'web/src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['**/*.test.ts', '**/*.docker-test.ts', '**/test/**/*.ts'],
    rules: {
      // node:test's describe/it return promises that the runner tracks itself.
      '@typescript-eslint/no-floating-promises': 'off',
      // assert.equal(x?.y, v) narrows x to non-null, which makes every later
      // x?.z "unnecessary"; optional chains keep a failing assertion readable.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
);
