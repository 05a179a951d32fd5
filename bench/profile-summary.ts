/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof DIR`): the functions
 * with the most self time, the files with the most self time, and optionally the call paths into one function.
 * Usage: node bench/profile-summary.ts FILE [N] [FUNCTION]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

const [file, topText, callersOf] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/profile-summary.ts FILE.cpuprofile [N] [FUNCTION (show who calls it)]\n');
  process.exit(2);
}
const top = Number(topText ?? 30);
process.stdout.on('error', () => process.exit(0));
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
// Percentages are of the samples where the process was busy: the idle time between load runs (a profile covers
// the process's whole life) would otherwise dilute every figure.
const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((sum, n) => sum + n.hitCount, 0);
const total = Math.max(1, profile.samples.length - idle);
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const short = url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/').replace(/^node:/, 'node:');
  if (functionName === '(idle)') continue;
  const key = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + node.hitCount);
  const group = url === '' ? `(${functionName})` : short.replace(/:\d+$/, '');
  byFile.set(group, (byFile.get(group) ?? 0) + node.hitCount);
}
const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title} (of ${total} busy samples)\n`);
  for (const [key, hits] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}\n`);
  }
};
print('self time by function', byFunction);
print('self time by file', byFile);

// Inclusive time of the project's own functions (src/, bench/): what each stage costs with everything it calls.
const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
const inclusive = new Map<number, number>();
const total_ = (id: number): number => {
  const cached = inclusive.get(id);
  if (cached !== undefined) return cached;
  const node = nodeById.get(id)!;
  let sum = node.hitCount;
  for (const child of node.children ?? []) sum += total_(child);
  inclusive.set(id, sum);
  return sum;
};
const own = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  if (!/\/(src|bench)\//.test(url) || url.includes('node_modules')) continue;
  const key = `${functionName || '(anonymous)'} ${url.replace(/^.*?\/(src|bench)\//, '$1/')}:${lineNumber + 1}`;
  own.set(key, (own.get(key) ?? 0) + total_(node.id));
}
print('inclusive time of project functions', own);

if (callersOf) {
  const parent = new Map<number, ProfileNode>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  const paths = new Map<string, number>();
  for (const node of profile.nodes) {
    if (node.callFrame.functionName !== callersOf || node.hitCount === 0) continue;
    const chain: string[] = [];
    for (let p = parent.get(node.id); p && chain.length < 6; p = parent.get(p.id)) {
      chain.push(`${p.callFrame.functionName || '(anon)'}@${p.callFrame.url.split('/').pop()}:${p.callFrame.lineNumber + 1}`);
    }
    const key = chain.join(' < ');
    paths.set(key, (paths.get(key) ?? 0) + node.hitCount);
  }
  void byId;
  print(`call paths into ${callersOf}`, paths);
}
