/**
 * Regenerates the screenshots in docs/dashboard.md: starts the dashboard test stack (gateway, scripted upstream),
 * sends some traffic (browsing from a few clients, failed API keys, a credential-stuffing burst), creates a consumer
 * and keys through the admin API, then opens each page in Debian's Chromium and saves docs/dashboard-<page>.png.
 *
 *   node scripts/dashboard-screenshots.ts        (after npm run build:dashboard)
 */
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, adminCall } from '../test/helpers/apikeys.ts';
import { launchChromium, startDashboardStack } from '../test/helpers/dashboard-stack.ts';

const PAGES = ['overview', 'incidents', 'keys', 'audit', 'routes', 'limits'] as const;
const docs = (name: string) => fileURLToPath(new URL(`../docs/${name}`, import.meta.url));

const stack = await startDashboardStack();
const browser = await launchChromium();
try {
  const admin = stack.gw.adminUrl;
  await adminCall(admin, 'POST', '/consumers', ADMIN_TOKEN, { id: 'billing', name: 'Billing service', tenant: 'acme', roles: ['reader'] });
  await adminCall(admin, 'POST', '/consumers', ADMIN_TOKEN, { id: 'partner-inc', name: 'Partner Inc', tenant: 'globex' });
  const key = await adminCall(admin, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'billing', scopes: ['items:read'] });
  await adminCall(admin, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'partner-inc', scopes: ['items:read'], expires_at: '2027-06-30T00:00:00Z' });
  const old = await adminCall(admin, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'partner-inc' });
  await adminCall(admin, 'POST', `/keys/${old.json['id'] as string}/revoke`, ADMIN_TOKEN, {});

  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${admin}/dashboard/`);
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();

  // Traffic spread over a few 10 s buckets, so the charts have a shape.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 40; i++) await stack.send(`198.51.100.${(i % 6) + 1}`, `/shop/products/${i}`);
    for (let i = 0; i < 25; i++) await stack.send('198.51.100.20', '/partner/items', { headers: { 'x-api-key': key.json['key'] as string } });
    for (let i = 0; i < 4; i++) await stack.send('192.0.2.44', '/partner/items', { headers: { 'x-api-key': `rk_live_guess${i}` } });
    if (round < 2) await new Promise((r) => setTimeout(r, 10_000));
  }
  await stack.stuff('203.0.113.77');
  await stack.gw.gateway.monitor.drain();
  await new Promise((r) => setTimeout(r, 2500)); // one stream tick

  // Load time on loopback: a fresh page load (session cookie kept) until the overview's navigation is drawn.
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await page.reload();
    await page.getByTestId('stat-requests').waitFor();
    times.push(performance.now() - started);
  }
  const load = await page.evaluate(() => performance.getEntriesByType('navigation' as 'mark')[0]?.duration ?? 0); // the browser's type, not Node's
  console.log(`load to overview drawn: median ${times.sort((a, b) => a - b)[2]!.toFixed(0)} ms of 5 (navigation timing of the last: ${load.toFixed(0)} ms)`);

  for (const name of PAGES) {
    await page.goto(`${admin}/dashboard/#/${name}`);
    await page.waitForLoadState('networkidle').catch(() => undefined);
    if (name === 'incidents') await page.getByRole('button', { name: /Show incident/ }).first().click();
    if (name === 'audit') {
      await page.getByRole('button', { name: 'Verify the chain' }).click();
      await page.getByTestId('verify-result').waitFor();
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByTestId('audit-rows').waitFor();
    }
    await new Promise((r) => setTimeout(r, 500));
    await page.screenshot({ path: docs(`dashboard-${name}.png`), fullPage: false });
    console.log(`docs/dashboard-${name}.png`);
  }
} finally {
  await browser.close();
  await stack.close();
}
