/**
 * The SQL vocabulary of the SQL injection detector: token types, the words that are keywords, functions and
 * types in at least one of MySQL, MSSQL, PostgreSQL, Oracle and SQLite, and the two-word phrases that fold into
 * one token. Everything is built once at module load; a lookup hashes the word while the tokenizer scans it, so
 * no string is allocated per word.
 */

/** Token types. The value is the index of the type's letter in {@link LETTERS}. */
export const T = {
  STRING: 1,
  NUMBER: 2,
  NAME: 3,
  VARIABLE: 4,
  KEYWORD: 5,
  UNION: 6,
  STATEMENT: 7,
  GROUP: 8,
  TSQL: 9,
  TYPE: 10,
  FUNCTION: 11,
  OPERATOR: 12,
  LOGIC: 13,
  COMMENT: 14,
  LPAREN: 15,
  RPAREN: 16,
  COMMA: 17,
  SEMICOLON: 18,
  DOT: 19,
  COLON: 20,
  UNKNOWN: 21,
  ATTACK: 22,
} as const;

/**
 * One letter per token type, at the type's index (index 0 is unused). The letters follow libinjection's
 * published alphabet: s string, 1 number, n name (bareword), v variable, k keyword, U union-like set operator,
 * E statement keyword (SELECT, INSERT, DROP TABLE…), B grouping clause (ORDER BY, GROUP BY, HAVING), T T-SQL
 * control statement (EXEC, DECLARE, WAITFOR DELAY, IF), t SQL type, f function call, o operator, & logic
 * operator, c comment, ( ) , ; . : punctuation, ? anything else; and one letter of Rampart's own, X, for the calls
 * injections make and applications never take from user input: delays, file and network access, error-based
 * extraction (SLEEP(5), LOAD_FILE(…), UTL_HTTP.REQUEST, xp_cmdshell).
 */
export const LETTERS = ' s1nvkUEBTtfo&c(),;.:?X';

/** Every letter a fingerprint can contain. */
export const FINGERPRINT_ALPHABET: ReadonlySet<string> = new Set(LETTERS.slice(1));

/** A word the lexicon knows. `type` applies when the word is not a function call. */
export interface Entry {
  readonly id: number;
  readonly type: number;
  /** Followed by `(` the word is a function call (`f`). */
  readonly fn: boolean;
  /** `NOT` and friends: dropped where only a unary operator can stand. */
  readonly unary: boolean;
  /** An attack call (type X): 0 no, 1 when called (`SLEEP(` — "sleep" is English), 2 always (`xp_cmdshell`). */
  readonly attack: 0 | 1 | 2;
}

/** Longest word (with qualifying dots) looked up; longer words are names. */
export const MAX_WORD = 32;

/** FNV-1a over lower-cased char codes; the tokenizer computes the same while scanning. */
export function hash1(h: number, c: number): number {
  return Math.imul(h ^ c, 16777619);
}
/** A second, independent hash (multiplicative) to make accidental collisions negligible. */
export function hash2(h: number, c: number): number {
  return (Math.imul(h, 1000003) + c) | 0;
}
export const H1_SEED = 0x811c9dc5 | 0;
export const H2_SEED = 0x12345;

const table = new Map<number, Array<{ h2: number; len: number; entry: Entry }>>();
const ids = new Map<string, Entry>();

function hashes(word: string): [number, number] {
  let a = H1_SEED;
  let b = H2_SEED;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    a = hash1(a, c);
    b = hash2(b, c);
  }
  return [a, b];
}

function add(words: string, type: number, fn = false, unary = false, attack: 0 | 1 | 2 = 0): void {
  for (const word of words.trim().split(/\s+/)) {
    const existing = ids.get(word);
    // A word listed as a function elsewhere keeps its base type but becomes callable, and vice versa.
    const entry: Entry = existing
      ? { id: existing.id, type: existing.type === T.NAME ? type : existing.type, fn: existing.fn || fn, unary: existing.unary || unary, attack: existing.attack > attack ? existing.attack : attack }
      : { id: ids.size + 1, type, fn, unary, attack };
    ids.set(word, entry);
    const [a, b] = hashes(word);
    const bucket = table.get(a) ?? [];
    const at = bucket.findIndex((x) => x.h2 === b && x.len === word.length);
    if (at >= 0) bucket[at] = { h2: b, len: word.length, entry };
    else bucket.push({ h2: b, len: word.length, entry });
    table.set(a, bucket);
  }
}

/** Looks a scanned word up by its two hashes and length. */
export function lookup(h1: number, h2: number, len: number): Entry | undefined {
  const bucket = table.get(h1);
  if (bucket === undefined) return undefined;
  for (let i = 0; i < bucket.length; i++) {
    const x = bucket[i]!;
    if (x.h2 === h2 && x.len === len) return x.entry;
  }
  return undefined;
}

// Set operators that join a second SELECT onto the application's query.
add('union except intersect', T.UNION);
// Statements an injection appends or stacks. DROP/CREATE/ALTER/TRUNCATE are statements only with their object
// noun (see PAIRS): alone they are ordinary English ("drop-in", "create an account").
add('select insert update delete', T.STATEMENT);
add('drop create alter truncate rename grant revoke load', T.NAME);
// T-SQL (and PL/SQL) control statements that run without a SELECT: procedure calls, variables, delays.
add('exec execute declare waitfor shutdown begin goto', T.TSQL);
// IF is a call (`IF(1=1,SLEEP(5),0)`); bare, it is the English word ("3. If you…").
add('if', T.NAME, true);
add('having', T.GROUP);
// ORDER and GROUP are names until BY follows.
add('order group', T.NAME);
add(
  `from where into values table as on join by limit offset top all distinct case when then else end
   desc describe asc procedure function database databases view index schema set exists with outfile dumpfile
   infile data show tables columns column escape`,
  T.KEYWORD,
);
add('and or xor', T.LOGIC);
add('like rlike regexp ilike is in between div mod sounds glob match', T.OPERATOR);
add('not', T.OPERATOR, false, true);
// Literals behave like numbers.
add('null true false unknown', T.NUMBER);
add(
  `varchar nvarchar nchar int integer bigint smallint tinyint decimal numeric float varbinary binary signed
   unsigned varchar2 nvarchar2 clob blob`,
  T.TYPE,
);
add('char', T.TYPE, true);
// Functions, callable when followed by `(`; otherwise plain names ("user", "version", "count" in prose). The
// list favours what injections use: delays, string building that evades quote filters, error-based extraction,
// file and network access, metadata.
add(
  `sleep benchmark pg_sleep dbms_lock.sleep dbms_pipe.receive_message randomblob
   chr concat concat_ws group_concat string_agg substring substr mid left right ascii ord hex unhex bin elt
   lower upper length len char_length reverse replace repeat lpad rpad trim ltrim rtrim instr locate position
   strcmp soundex space make_set export_set field find_in_set
   md5 sha sha1 sha2 crc32 compress uncompress aes_encrypt aes_decrypt encode decode to_base64 from_base64
   count sum min max avg rand random floor ceil ceiling round abs exp pow power sqrt
   version user current_user session_user system_user user_name suser_name suser_sname db_name database schema
   object_name col_name host_name is_srvrolemember is_member has_dbaccess serverproperty
   load_file extractvalue updatexml name_const exp geometrycollection polygon multipoint multilinestring
   multipolygon linestring gtid_subset json_extract json_depth json_keys json_array json_object
   if ifnull isnull nullif coalesce iif cast convert try_cast try_convert nvl nvl2 decode
   openrowset opendatasource openquery fn_varbintohexstr quotename stuff xp_cmdshell xp_regread xp_dirtree
   sp_executesql sp_oacreate
   utl_inaddr.get_host_address utl_inaddr.get_host_name utl_http.request ctxsys.drithsx.sn
   dbms_xmlgen.getxml xmltype extract sys_context to_char to_number bfilename
   current_setting current_database pg_read_file pg_ls_dir lo_import lo_export inet_server_addr
   sqlite_version load_extension sys_eval sys_exec
   date_add date_sub now sysdate timestamp cot`,
  T.NAME,
  true,
);
add('exists row values', T.KEYWORD, true);
// Attack calls (X). English words only when called; the rest are SQL whatever follows.
add('sleep benchmark randomblob extractvalue updatexml name_const gtid_subset', T.NAME, true, false, 1);
add(
  `pg_sleep dbms_lock.sleep dbms_pipe.receive_message load_file xp_cmdshell xp_regread xp_dirtree sp_oacreate
   sp_executesql utl_inaddr.get_host_address utl_inaddr.get_host_name utl_http.request ctxsys.drithsx.sn
   dbms_xmlgen.getxml pg_read_file pg_ls_dir lo_import lo_export sys_eval sys_exec load_extension openrowset
   opendatasource`,
  T.NAME,
  true,
  false,
  2,
);

/** Two-word phrases folded into one token: [first word, second word, resulting type]. */
const PAIRS_SOURCE: ReadonlyArray<readonly [string, string, number]> = [
  ['union', 'all', T.UNION],
  ['union', 'distinct', T.UNION],
  ['order', 'by', T.GROUP],
  ['group', 'by', T.GROUP],
  ['is', 'not', T.OPERATOR],
  ['not', 'in', T.OPERATOR],
  ['not', 'like', T.OPERATOR],
  ['not', 'between', T.OPERATOR],
  ['not', 'regexp', T.OPERATOR],
  ['not', 'rlike', T.OPERATOR],
  ['not', 'exists', T.OPERATOR],
  ['sounds', 'like', T.OPERATOR],
  ['and', 'not', T.LOGIC],
  ['or', 'not', T.LOGIC],
  ['waitfor', 'delay', T.TSQL],
  ['waitfor', 'time', T.TSQL],
  ['execute', 'immediate', T.TSQL],
  ['select', 'all', T.STATEMENT],
  ['select', 'distinct', T.STATEMENT],
  ['select', 'top', T.STATEMENT],
  ['insert', 'into', T.STATEMENT],
  ['delete', 'from', T.STATEMENT],
  ['load', 'data', T.STATEMENT],
  // Writing a file from a query (a web shell) is an attack wherever it appears: an attack call (X).
  ['into', 'outfile', T.ATTACK],
  ['into', 'dumpfile', T.ATTACK],
  ...['left', 'right', 'inner', 'outer', 'cross', 'full', 'natural'].map((w) => [w, 'join', T.KEYWORD] as const),
  ...['drop', 'create', 'alter', 'truncate', 'rename'].flatMap((verb) =>
    ['table', 'database', 'schema', 'view', 'index', 'procedure', 'function', 'trigger', 'user', 'login', 'column', 'tablespace']
      .map((noun) => [verb, noun, T.STATEMENT] as const),
  ),
  ['grant', 'all', T.STATEMENT],
  ['grant', 'select', T.STATEMENT],
  ['grant', 'connect', T.STATEMENT],
  ['grant', 'resource', T.STATEMENT],
  ['grant', 'dba', T.STATEMENT],
  ['revoke', 'all', T.STATEMENT],
];

add('inner outer cross full natural immediate delay time connect resource dba login trigger tablespace', T.NAME);

/** (first id × 4096 + second id) → folded type. */
export const PAIRS: ReadonlyMap<number, number> = new Map(
  PAIRS_SOURCE.map(([a, b, type]) => {
    const first = ids.get(a);
    const second = ids.get(b);
    if (first === undefined || second === undefined) throw new Error(`sqli lexicon: pair ${a} ${b} names an unknown word`);
    return [first.id * 4096 + second.id, type] as const;
  }),
);

/** Word operators that are arithmetic (`1 DIV 0`, `5 MOD 2`): they fold into one operand like `+` does. */
export const ARITH_WORDS: ReadonlySet<number> = new Set(['div', 'mod'].map((w) => ids.get(w)!.id));
