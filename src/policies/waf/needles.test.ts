import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NeedleIndex } from './needles.ts';
import { punctuationMask } from './text.ts';

// A small alphabet makes overlaps, shared prefixes and needles inside needles common.
const char = fc.constantFrom('a', 'b', 'c', '.', '/', '(', ' ');
const needle = fc.array(char, { minLength: 1, maxLength: 6 }).map((cs) => cs.join(''));
const text = fc.array(fc.oneof(char, fc.constantFrom('é', '\u560a', 'A')), { maxLength: 80 }).map((cs) => cs.join('').toLowerCase());

test('the automaton finds exactly the groups some needle of which occurs, as includes would', () => {
  fc.assert(
    fc.property(fc.array(fc.array(needle, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }), fc.array(text, { minLength: 1, maxLength: 10 }), (groups, texts) => {
      const index = new NeedleIndex();
      const bits = groups.map((g) => index.group(g));
      for (const t of texts) {
        const { groups: found, punct } = index.index(t);
        groups.forEach((g, i) => assert.equal((found & bits[i]!) !== 0, g.some((n) => t.includes(n)), `${JSON.stringify(g)} in ${JSON.stringify(t)}`));
        assert.equal(punct, punctuationMask(t));
      }
    }),
    { numRuns: 300 },
  );
});

test('a group added after a scan is found by the next scan', () => {
  const index = new NeedleIndex();
  const first = index.group(['etc/passwd']);
  assert.equal(index.index('cat /etc/passwd').groups, first);
  const second = index.group(['cat ']);
  assert.equal(index.index('cat /etc/passwd').groups, first | second);
});

test('needles that are not lower-case printable ASCII are refused at registration', () => {
  const index = new NeedleIndex();
  assert.throws(() => index.group(['Etc']), /lower-case/);
  assert.throws(() => index.group(['']), /non-empty/);
  assert.throws(() => index.group(['é']), /ASCII/);
});

test('a 1 MB run of overlapping needle prefixes is matched right (failure links, no backtracking)', () => {
  const index = new NeedleIndex();
  index.group(['aaaaaaab', 'aaab', 'ab']);
  const t = 'a'.repeat(1_000_000);
  assert.equal(index.index(t).groups, 0);
  assert.equal(index.index(`${t}b`).groups, 1);
});

test('ASCII capitals read as lower case, and UTF-8 bytes give the groups of their text', () => {
  const index = new NeedleIndex();
  const passwd = index.group(['etc/passwd']);
  const tab = index.group(['\tat ']);
  assert.equal(index.index('cat /ETC/Passwd').groups, passwd);
  assert.equal(index.index('x\tAT y').groups, tab);
  fc.assert(
    fc.property(fc.array(fc.constantFrom('etc/', 'PASSWD', 'passwd', 'é', '😀', '\t', 'at ', 'x'), { maxLength: 10 }), (parts) => {
      const t = parts.join('');
      assert.equal(index.groupsInBytes(Buffer.from(t)), index.index(t).groups);
    }),
  );
});
