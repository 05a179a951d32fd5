import { Counter, type Registry } from 'prom-client';

type LabelValue = string | number;

/**
 * Cells of one metric, one per label set, found by walking nested maps of the label values (in `names` order).
 * The request path counts through these with a plain add: prom-client's own `inc`/`observe` build and hash a
 * string of the label object and validate it on every call, which showed as ≈ 4 % of the gateway's CPU per request.
 */
class CellTree<C> {
  readonly #root = new Map<LabelValue, unknown>();
  readonly #names: readonly string[];
  readonly #create: (labels: Record<string, string>) => C;

  constructor(names: readonly string[], create: (labels: Record<string, string>) => C) {
    if (names.length < 1 || names.length > 4) throw new Error('a pre-bound metric has 1 to 4 labels');
    this.#names = names;
    this.#create = create;
  }

  /** The cell of these label values (as many as the metric has labels), made on first use. */
  get(a: LabelValue, b?: LabelValue, c?: LabelValue, d?: LabelValue): C {
    const depth = this.#names.length;
    let level = this.#root;
    let key = a;
    if (depth > 1) {
      level = child(level, a);
      key = b!;
    }
    if (depth > 2) {
      level = child(level, b!);
      key = c!;
    }
    if (depth > 3) {
      level = child(level, c!);
      key = d!;
    }
    let cell = level.get(key) as C | undefined;
    if (cell === undefined) {
      const values = [a, b, c, d];
      const labels: Record<string, string> = {};
      for (let i = 0; i < depth; i++) labels[this.#names[i]!] = String(values[i]);
      cell = this.#create(labels);
      level.set(key, cell);
    }
    return cell;
  }

  *cells(): Generator<C> {
    const walk = function* (level: Map<LabelValue, unknown>, depth: number): Generator<C> {
      for (const value of level.values()) {
        if (depth === 0) yield value as C;
        else yield* walk(value as Map<LabelValue, unknown>, depth - 1);
      }
    };
    yield* walk(this.#root, this.#names.length - 1);
  }

  clear(): void {
    this.#root.clear();
  }
}

function child(level: Map<LabelValue, unknown>, value: LabelValue): Map<LabelValue, unknown> {
  let next = level.get(value) as Map<LabelValue, unknown> | undefined;
  if (next === undefined) {
    next = new Map();
    level.set(value, next);
  }
  return next;
}

export interface CounterCell {
  value: number;
}

/**
 * A counter of the request path: `cell(...)` once per request and `value += n` on it; the totals go to a prom-client
 * Counter of the same name when the registry is scraped.
 */
export class PreboundCounter {
  readonly #tree: CellTree<CounterCell & { readonly labels: Record<string, string> }>;

  constructor(options: { name: string; help: string; labelNames: readonly string[]; registry: Registry }) {
    const tree = new CellTree(options.labelNames, (labels) => ({ labels, value: 0 }));
    this.#tree = tree;
    new Counter({
      name: options.name,
      help: options.help,
      labelNames: options.labelNames,
      registers: [options.registry],
      collect() {
        this.reset();
        for (const cell of tree.cells()) this.inc(cell.labels, cell.value);
      },
    });
  }

  cell(a: LabelValue, b?: LabelValue, c?: LabelValue, d?: LabelValue): CounterCell {
    return this.#tree.get(a, b, c, d);
  }
}

export interface HistogramCell {
  observe(value: number): void;
}

class Buckets implements HistogramCell {
  readonly labels: Record<string, string>;
  readonly #bounds: readonly number[];
  /** Per bound, the observations above the previous bound and at most this one (not cumulative). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels?: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * A histogram of the request path, counted in plain typed arrays and exported in the shape of prom-client's own
 * Histogram (so the registry formats it exactly alike: `_bucket` with `le` first, `+Inf`, `_sum`, `_count`).
 */
export class PreboundHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #tree: CellTree<Buckets>;
  readonly #bounds: readonly number[];

  constructor(options: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[]; registry: Registry }) {
    this.name = options.name;
    this.help = options.help;
    const bounds = [...options.buckets].sort((x, y) => x - y);
    this.#bounds = bounds;
    this.#tree = new CellTree(options.labelNames, (labels) => new Buckets(labels, bounds));
    options.registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  cell(a: LabelValue, b?: LabelValue, c?: LabelValue, d?: LabelValue): HistogramCell {
    return this.#tree.get(a, b, c, d);
  }

  /** The registry's text exposition reads this (the label set as shared labels after `le`). */
  async getForPromString(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const values: ExportedValue[] = [];
    for (const cell of this.#tree.cells()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += cell.counts[i]!;
        values.push({ labels: { le: this.#bounds[i]! }, sharedLabels: cell.labels, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: cell.labels, value: cell.count, metricName: `${this.name}_bucket` });
      values.push({ labels: {}, sharedLabels: cell.labels, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: cell.labels, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (`registry.getMetricsAsJSON()`): labels merged, as prom-client's Histogram gives them. */
  async get(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map((v) => ({ labels: { ...v.labels, ...v.sharedLabels }, value: v.value, metricName: v.metricName })) };
  }

  reset(): void {
    this.#tree.clear();
  }
}
