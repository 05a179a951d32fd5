/**
 * A segment trie over path templates (`/orders/{orderId}`). Static segments win over parameters. Built once per
 * route table; matching allocates only the params object.
 */
interface Node<T> {
  readonly statics: Map<string, Node<T>>;
  param: { readonly name: string; readonly node: Node<T> } | undefined;
  readonly methods: Map<string, Entry<T>>;
  wildcard: Map<string, T> | undefined;
}

interface Entry<T> {
  readonly route: T;
  readonly names: readonly string[];
}

export type RouteMatch<T> =
  | { readonly kind: 'found'; readonly route: T; readonly params: Record<string, string> }
  | { readonly kind: 'method_not_allowed'; readonly allowed: readonly string[] }
  | { readonly kind: 'not_found' };

const newNode = <T>(): Node<T> => ({ statics: new Map(), param: undefined, methods: new Map(), wildcard: undefined });

export class Router<T> {
  readonly #root: Node<T> = newNode<T>();

  /** Adds a route. `template` segments in braces are parameters; `*` as the whole template matches every path. */
  add(method: string, template: string, route: T): void {
    if (template === '*') {
      this.#root.wildcard ??= new Map();
      this.#root.wildcard.set(method, route);
      return;
    }
    let node = this.#root;
    const names: string[] = [];
    for (const segment of splitPath(template)) {
      const param = /^\{([^{}]+)\}$/.exec(segment);
      if (param) {
        if (node.param && node.param.name !== param[1]) {
          throw new Error(`conflicting parameter names {${node.param.name}} and {${param[1]}} at the same position in ${template}`);
        }
        node.param ??= { name: param[1]!, node: newNode<T>() };
        names.push(param[1]!);
        node = node.param.node;
      } else {
        if (segment.includes('{')) throw new Error(`partial path parameters are not supported: ${template}`);
        let next = node.statics.get(segment);
        if (!next) node.statics.set(segment, (next = newNode<T>()));
        node = next;
      }
    }
    if (node.methods.has(method)) throw new Error(`duplicate route ${method} ${template}`);
    node.methods.set(method, { route, names });
  }

  /** Matches an already-validated path. Segment values for parameters are percent-decoded. */
  match(method: string, path: string): RouteMatch<T> {
    const node = findNode(this.#root, splitPath(path), 0, []);
    if (node) {
      const entry = node.node.methods.get(method) ?? (method === 'HEAD' ? node.node.methods.get('GET') : undefined);
      if (entry !== undefined) return { kind: 'found', route: entry.route, params: toParams(entry.names, node.values) };
      if (!this.#root.wildcard) return { kind: 'method_not_allowed', allowed: allowedMethods(node.node.methods) };
    }
    const wildcard = this.#root.wildcard;
    if (wildcard) {
      const route = wildcard.get(method) ?? wildcard.get('*');
      if (route !== undefined) return { kind: 'found', route, params: {} };
      return { kind: 'method_not_allowed', allowed: allowedMethods(wildcard) };
    }
    return { kind: 'not_found' };
  }
}

function allowedMethods(methods: Map<string, unknown>): string[] {
  const list = [...methods.keys()];
  if (list.includes('GET') && !list.includes('HEAD')) list.push('HEAD');
  return list.sort();
}

function findNode<T>(
  node: Node<T>,
  segments: readonly string[],
  index: number,
  values: string[],
): { node: Node<T>; values: string[] } | undefined {
  if (index === segments.length) return node.methods.size === 0 ? undefined : { node, values };
  const segment = segments[index]!;
  const next = node.statics.get(segment);
  if (next) {
    const found = findNode(next, segments, index + 1, values);
    if (found) return found;
  }
  if (node.param && segment !== '') {
    values.push(decodeURIComponent(segment));
    const found = findNode(node.param.node, segments, index + 1, values);
    if (found) return found;
    values.pop();
  }
  return undefined;
}

function toParams(names: readonly string[], values: readonly string[]): Record<string, string> {
  if (names.length === 0) return EMPTY;
  const params: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) params[names[i]!] = values[i]!;
  return params;
}

const EMPTY: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** `/` → [], `/a/b` → ['a','b'], `/a/` → ['a',''] (a trailing slash is a different path, as on most upstreams). */
function splitPath(path: string): string[] {
  return path === '/' || path === '' ? [] : path.slice(1).split('/');
}
