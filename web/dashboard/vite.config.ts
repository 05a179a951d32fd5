import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// Built into dist/dashboard (shipped in the package), served by the admin listener under /dashboard/ with a CSP
// that allows only same-origin scripts and styles: nothing may be inlined (no modulepreload polyfill, no data: assets).
export default defineConfig({
  root,
  base: '/dashboard/',
  plugins: [preact()],
  build: {
    outDir: fileURLToPath(new URL('../../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
