/**
 * The HTML report of `rampart scan`, opened in headless Chromium (Debian's, driven by playwright-core): a real scan
 * of a small API whose answers carry markup (a banner, a body with <script> and an onerror image) renders every
 * finding with its evidence as text; nothing from the target runs or loads, and the page fetches nothing.
 * `RAMPART_SCREENSHOT=docs/scan-report.png npm test` refreshes the screenshot in docs/scan.md.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { escapeHtml, formatHtml } from '../src/scan/report-html.ts';
import { runScan } from '../src/scan/run.ts';

const SPEC = `openapi: 3.1.0
info: { title: notes, version: 1.0.0 }
components: { securitySchemes: { bearer: { type: http, scheme: bearer } } }
security: [{ bearer: [] }]
paths:
  /notes:
    get:
      operationId: listNotes
      responses: { '200': { description: ok, content: { application/json: { schema: { type: array, items: { type: object, additionalProperties: false, properties: { id: { type: string }, text: { type: string } } } } } } } }
`;
const MARKUP = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`;

const dir = mkdtempSync(join(tmpdir(), 'rampart-scan-html-'));
const server = createServer((req, res) => {
  const headers = { 'content-type': 'application/json', server: 'notes/1.0 (<b>debug</b>)', 'x-powered-by': 'Express' };
  if (req.url?.startsWith('/notes')) return void res.writeHead(200, headers).end(JSON.stringify([{ id: 'n-1', text: 'hello', html: MARKUP, passwordHash: '$2b$10$abcdefghijklmnopqrstuuUuUuUuUuUuUuUuUuUuUuUuUuUuUuU' }]));
  res.writeHead(404, headers).end(JSON.stringify({ error: `Cannot GET ${req.url}`, stack: 'Error: not found\n    at Router.handle (/srv/app/node_modules/express/lib/router/index.js:284:7)', html: MARKUP }));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('escapeHtml escapes the five characters that end text or an attribute', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
});

test('a real scan, rendered and opened in Chromium: every finding shown, no markup from the target active, no fetch', async () => {
  const specFile = join(dir, 'openapi.yaml');
  writeFileSync(specFile, SPEC);
  const identityFiles = ['a', 'b'].map((name) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `name: ${name}\ncredential: { bearer: token-of-${name}-0123456789 }\n`);
    return file;
  });
  const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const result = await runScan({ specFile, target: new URL(target), identityFiles, rps: 200 });
  assert.ok(result.findings.length >= 3, `findings: ${result.findings.map((f) => f.rule).join(', ')}`);
  const html = formatHtml(result);
  assert.doesNotMatch(html, /<script|<img|onerror="/i, 'no markup from the target survives unescaped');
  const file = join(dir, 'report.html');
  writeFileSync(file, html);

  const browser = await chromium.launch({ executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(file).href);
    assert.equal(await page.title(), `rampart scan: ${result.target}`);
    assert.equal(await page.locator('details').count(), result.findings.length);
    assert.equal(await page.locator('script, img, iframe, object, embed').count(), 0);
    await page.locator('details').first().evaluate((d) => ((d as { open: boolean }).open = true));
    const text = await page.locator('main').innerText();
    for (const finding of result.findings) assert.ok(text.includes(finding.title), finding.title);
    assert.ok(text.includes('Fix:'));
    assert.deepEqual(requests, [pathToFileURL(file).href], 'the page loaded nothing but itself');
    assert.deepEqual(errors, []);
    await page.screenshot({ path: process.env['RAMPART_SCREENSHOT'] ?? join(dir, 'report.png'), fullPage: false });
  } finally {
    await browser.close();
  }
});
