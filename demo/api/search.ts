/**
 * The naive order search: a JSON filter applied field by field, where a value that is an object is read as a
 * MongoDB-style operator (`{"$ne": null}`, `{"$gt": 0}` …). That is the type-confusion / NoSQL-injection hole the
 * demo shows: `{"id": {"$ne": null}}` matches every row.
 */

type Operator = (actual: unknown, operand: unknown) => boolean;

const OPERATORS: Record<string, Operator> = {
  // Loose equality on purpose: {"$ne": null} also skips undefined.
  $eq: (a, b) => a == b,
  $ne: (a, b) => a != b,
  $gt: (a, b) => (a as number) > (b as number),
  $gte: (a, b) => (a as number) >= (b as number),
  $lt: (a, b) => (a as number) < (b as number),
  $lte: (a, b) => (a as number) <= (b as number),
  $in: (a, b) => Array.isArray(b) && b.includes(a),
  $nin: (a, b) => Array.isArray(b) && !b.includes(a),
  $exists: (a, b) => (a !== undefined) === Boolean(b),
};

function matchesValue(actual: unknown, expected: unknown): boolean {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    // Every operator in the object must hold; unknown operators are ignored (naive), so {} matches anything.
    return Object.entries(expected).every(([op, operand]) => {
      const fn = OPERATORS[op];
      return fn === undefined ? true : fn(actual, operand);
    });
  }
  return actual == expected;
}

/** True when `row` satisfies every field of `filter` (see module doc for the operator semantics). */
export function matchesFilter(row: Record<string, unknown>, filter: Record<string, unknown>): boolean {
  return Object.entries(filter).every(([field, expected]) => matchesValue(row[field], expected));
}
