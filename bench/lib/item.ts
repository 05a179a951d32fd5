/**
 * The document the benchmark upstream returns (~200 bytes of JSON). It carries one field the bench OpenAPI spec
 * does not declare (`internal_note`), so response minimisation has work to do.
 */
export const ITEM = {
  id: '42',
  name: 'Widget',
  price: 19.99,
  currency: 'EUR',
  tags: ['blue', 'small'],
  stock: 7,
  updatedAt: '2025-01-01T00:00:00Z',
  internal_note: 'supplier margin 38%, do not expose',
};
