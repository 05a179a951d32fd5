/**
 * The HTML report: one self-contained file (inline CSS, no script, no external resource) that a CI job can keep as
 * an artefact and anyone can open. Everything taken from the scan (and so from the target: headers, bodies, paths)
 * is escaped, and the page's Content-Security-Policy forbids scripts and every fetch, so a target that answers
 * with markup cannot run anything in the reader's browser.
 */
import type { ScanResult } from './run.ts';
import { OWASP_CATEGORIES, SEVERITIES, type Evidence, type Finding, type OwaspCategory, type Severity } from './types.ts';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const COLOURS: Readonly<Record<Severity, string>> = { critical: '#7f1d1d', high: '#b91c1c', medium: '#c2410c', low: '#a16207', info: '#475569' };

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#0f172a;background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:20px 32px}header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#cbd5e1}
main{padding:20px 32px;max-width:1200px}
.counts{display:flex;gap:12px;margin:0 0 20px;padding:0;list-style:none}
.counts li{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 16px;min-width:90px}
.counts b{display:block;font-size:24px}
table{border-collapse:collapse;background:#fff;margin:0 0 24px}td,th{border:1px solid #e2e8f0;padding:6px 10px;text-align:left}
details{background:#fff;border:1px solid #e2e8f0;border-left-width:6px;border-radius:6px;margin:0 0 10px;padding:8px 14px}
summary{cursor:pointer;font-weight:600}.sev{color:#fff;border-radius:4px;padding:1px 7px;font-size:12px;text-transform:uppercase;margin-right:8px}
.meta{color:#475569;margin:6px 0}pre{background:#0f172a;color:#e2e8f0;padding:10px;border-radius:6px;overflow:auto;white-space:pre-wrap;word-break:break-all;font-size:12px}
.fix{background:#ecfdf5;border:1px solid #a7f3d0;border-radius:6px;padding:8px 10px}
`;

function evidenceText(evidence: Evidence): string {
  const { request, response } = evidence;
  const lines = [`> ${request.method} ${request.url}`, ...Object.entries(request.headers).map(([n, v]) => `> ${n}: ${v}`)];
  if (request.body) lines.push(`> ${request.body}`);
  lines.push(`< ${response.status}`, ...Object.entries(response.headers).map(([n, v]) => `< ${n}: ${v}`));
  if (response.body) lines.push(`< ${response.body}`);
  return lines.join('\n');
}

function findingHtml(f: Finding): string {
  const colour = COLOURS[f.severity];
  return `<details style="border-left-color:${colour}">
<summary><span class="sev" style="background:${colour}">${f.severity}</span>${escapeHtml(f.category)} ${escapeHtml(f.title)}</summary>
<p class="meta">${escapeHtml(f.endpoint)}${f.operation ? ` (${escapeHtml(f.operation)})` : ''} · rule <code>${escapeHtml(f.rule)}</code></p>
<p>${escapeHtml(f.detail)}</p>
${f.evidence.map((e) => `<pre>${escapeHtml(evidenceText(e))}</pre>`).join('\n')}
<p class="fix"><b>Fix:</b> ${escapeHtml(f.fix)}</p>
</details>`;
}

/** The HTML report of a finished scan (a dry run lists its plan). */
export function formatHtml(result: ScanResult): string {
  const title = `rampart scan: ${result.target}`;
  const order = [...SEVERITIES].reverse();
  const findings = [...result.findings].sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity));
  const counts = order.map((s) => `<li><b>${result.findings.filter((f) => f.severity === s).length}</b>${s}</li>`).join('');
  const byCategory = (Object.keys(OWASP_CATEGORIES) as OwaspCategory[])
    .map((c) => [c, result.findings.filter((f) => f.category === c).length] as const)
    .filter(([, n]) => n > 0)
    .map(([c, n]) => `<tr><td>${escapeHtml(c)}</td><td>${escapeHtml(OWASP_CATEGORIES[c])}</td><td>${n}</td></tr>`)
    .join('');
  const notes = [
    ...(result.stoppedEarly ? [`Stopped early: ${result.stoppedEarly}.`] : []),
    ...result.errors.map((e) => `Probe module ${e.module} failed: ${e.message}`),
    ...result.notes.map((n) => `Not probed: ${n}`),
  ];
  const plan = result.dryRun
    ? `<h2>Planned probes (dry run: nothing sent)</h2><table><tr><th>rule</th><th>endpoint</th><th>identity</th><th>what it sends</th></tr>${result.planned
        .map((p) => `<tr><td>${escapeHtml(p.rule)}</td><td>${escapeHtml(p.endpoint)}</td><td>${escapeHtml(p.identity ?? '')}</td><td>${escapeHtml(p.description)}${p.destructive ? ' [destructive]' : ''}</td></tr>`)
        .join('')}</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${escapeHtml(title)}</h1>
<p>spec ${escapeHtml(result.specFile)} · profile ${escapeHtml(result.profile)} · ${result.requestsSent} requests · ${escapeHtml(result.startedAt)} – ${escapeHtml(result.finishedAt)}</p></header>
<main>
<ul class="counts">${counts}</ul>
${notes.map((n) => `<p class="meta">${escapeHtml(n)}</p>`).join('\n')}
${byCategory ? `<h2>By OWASP category</h2><table><tr><th>category</th><th></th><th>findings</th></tr>${byCategory}</table>` : ''}
${plan}
<h2>Findings (${result.findings.length})</h2>
${findings.length === 0 ? '<p>No findings.</p>' : findings.map(findingHtml).join('\n')}
</main></body></html>
`;
}
