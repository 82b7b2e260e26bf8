#!/usr/bin/env node
// Checks the import rules of src/: every file sits in a layer of the table below, imports only its own
// group or lower layers, the internal graph has no cycles (type-only imports included), and a few
// external modules stay in the folders that own them.
//
//   node scripts/check-imports.mjs            check src/; exit 1 with one line per violation
//   node scripts/check-imports.mjs --graph    also print the internal edges (file → file) on stdout
//   node scripts/check-imports.mjs DIR        check DIR instead of src/ (paths in the table stay relative)
//
// Imports are read with the TypeScript parser, so comments and TSDoc examples (```ts blocks quoting
// `import { Resolver } from 'dnsgate'`) are not imports. An import edge is any of: import … from,
// import type … from, export … from, export * from, import '…', import('…'), typeof import('…'),
// import x = require('…'), and require('…') (src/wire/codec.ts loads dns-packet through createRequire).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// ---------------------------------------------------------------------------------------------------
// The rule table. Paths are relative to src/ and match by prefix: an entry ending in '/' is a folder
// (and everything below it), anything else is one file. A file belongs to the group with the longest
// matching entry; a file that matches no group is an error, so the table stays complete.
//
// A file may import a file of its own group, or of a group with a LOWER rank: never a higher rank, and
// never a sibling group of the same rank (gate/ and transport/ stay independent of each other).
//   mayImport     replaces the rank test: the only other groups this group may import.
//   importableBy  the only other groups that may import this group (its own files always may).
// Entries of mayImport, importableBy, ALLOWED_EDGES, FORBIDDEN_EDGES and EXTERNAL_RULES.only are group
// names ('wire') or path prefixes ('cli/demo.ts', 'dispatch/').
// ---------------------------------------------------------------------------------------------------
const GROUPS = [
  // Entries. Nothing imports an entry; the CLI imports the modules it needs, not index.ts.
  { name: 'index', rank: 100, paths: ['index.ts'], importableBy: [] },
  { name: 'cli', rank: 90, paths: ['cli/'], importableBy: [] },
  // dnsgate/testing: a separate entry over the wire format (type imports preferably). Only the CLI's
  // demo side uses it; the library (index.ts and below) never does.
  { name: 'testing', rank: 80, paths: ['testing/'], mayImport: ['wire'], importableBy: ['cli'] },
  // dnsgate/redis: a separate entry, the cluster-wide gate; it needs only the gate's types and the
  // clock. The CLI imports it for --redis.
  { name: 'redis', rank: 75, paths: ['redis/'], mayImport: ['gate', 'base'], importableBy: ['cli'] },
  {
    name: 'api',
    rank: 70,
    paths: [
      'resolver.ts',
      'types.ts',
      'records.ts',
      'results.ts',
      'mail.ts',
      'options.ts',
      'servers.ts',
      'args.ts',
    ],
  },
  { name: 'bulk', rank: 60, paths: ['bulk/'] },
  { name: 'lookup', rank: 50, paths: ['lookup/'] },
  { name: 'dispatch', rank: 40, paths: ['dispatch/'] },
  { name: 'gate', rank: 30, paths: ['gate/'] },
  { name: 'transport', rank: 30, paths: ['transport/'] },
  { name: 'wire', rank: 20, paths: ['wire/'] },
  { name: 'base', rank: 10, paths: ['errors.ts', 'diagnostics.ts', 'runtime.ts'] },
  // Ambient declarations (declare module '…'): nothing imports them, they import nothing.
  { name: 'types', rank: 0, paths: ['types/'], mayImport: [], importableBy: [] },
];

// Exceptions to the layering (rank, mayImport, importableBy). Say why.
const ALLOWED_EDGES = [
  // { from: 'dispatch/tcp.ts', to: 'lookup/flight.ts', why: '…' },
];

// Edges that are never allowed, whatever the ranks say.
const FORBIDDEN_EDGES = [
  { from: 'transport/', to: 'wire/', why: 'transport/ moves bytes and never reads DNS messages' },
];

// External modules only some groups may import (a module covers its subpaths: 'dns-packet/types.js').
// Builtins are matched with their node: prefix, whichever way the file spells them.
const EXTERNAL_RULES = [
  { module: 'dns-packet', only: ['wire', 'testing'], why: 'the wire format belongs to wire/' },
  { module: 'ioredis', only: ['redis'], why: 'an optional peer dependency: only dnsgate/redis loads it' },
  { module: 'node:dgram', only: ['transport', 'testing'], why: 'sockets belong to transport/' },
  { module: 'node:tls', only: ['transport', 'testing'], why: 'sockets belong to transport/' },
  {
    module: 'node:net',
    only: ['transport', 'testing'],
    namesAnywhere: ['isIP', 'isIPv4', 'isIPv6'],
    why: 'sockets belong to transport/; elsewhere only named imports of isIP, isIPv4, isIPv6',
  },
  { module: 'dnsgate', only: [], why: 'src/ imports its own modules by relative path' },
];

// Johnson's algorithm lists every elementary cycle; stop listing after this many.
const MAX_CYCLES = 200;

// ---------------------------------------------------------------------------------------------------

const args = process.argv.slice(2);
const showGraph = args.includes('--graph');
const unknownFlags = args.filter((a) => a.startsWith('-') && a !== '--graph');
if (unknownFlags.length > 0 || args.filter((a) => !a.startsWith('-')).length > 1) {
  console.error('usage: node scripts/check-imports.mjs [--graph] [src-dir]');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const srcDir = resolve(args.find((a) => !a.startsWith('-')) ?? join(here, '..', 'src'));
if (!existsSync(srcDir) || !statSync(srcDir).isDirectory()) {
  console.error(`check-imports: ${srcDir} is not a directory`);
  process.exit(2);
}
const srcLabel = (() => {
  const r = relative(process.cwd(), srcDir);
  return r === '' ? '.' : r.startsWith('..') ? srcDir : r;
})();

/** 'wire/codec.ts' (forward slashes, relative to src/) */
const relOf = (abs) => relative(srcDir, abs).split(sep).join('/');
/** 'src/wire/codec.ts', for messages */
const show = (rel) => `${srcLabel}/${rel}`;

function checkTable() {
  const problems = [];
  const names = new Set();
  const seen = new Map();
  for (const g of GROUPS) {
    if (names.has(g.name)) problems.push(`group ${g.name} is declared twice`);
    names.add(g.name);
    for (const p of g.paths) {
      if (seen.has(p)) problems.push(`path ${p} is in groups ${seen.get(p)} and ${g.name}`);
      seen.set(p, g.name);
    }
  }
  const scopes = [
    ...GROUPS.flatMap((g) => [...(g.mayImport ?? []), ...(g.importableBy ?? [])]),
    ...EXTERNAL_RULES.flatMap((r) => r.only),
  ];
  for (const s of scopes) {
    if (!names.has(s) && !s.includes('/') && !s.endsWith('.ts')) {
      problems.push(`'${s}' is neither a group name nor a path`);
    }
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(`check-imports: rule table: ${p}`);
    process.exit(2);
  }
}
checkTable();

const pathMatches = (rel, entry) => (entry.endsWith('/') ? rel.startsWith(entry) : rel === entry);

function groupOf(rel) {
  let best;
  let bestLength = -1;
  for (const g of GROUPS) {
    for (const p of g.paths) {
      if (pathMatches(rel, p) && p.length > bestLength) {
        best = g;
        bestLength = p.length;
      }
    }
  }
  return best;
}

/** Does a scope entry (group name or path prefix) cover this file? */
const inScope = (rel, group, entry) =>
  group?.name === entry || (entry.includes('/') || entry.endsWith('.ts') ? pathMatches(rel, entry) : false);
const inAnyScope = (rel, group, entries) => entries.some((e) => inScope(rel, group, e));

function collectFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const abs = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...collectFiles(abs));
    else if (entry.isFile() && /\.(?:[cm]?ts|tsx)$/.test(entry.name)) out.push(abs);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Reading imports
// ---------------------------------------------------------------------------------------------------

/**
 * Every import of one file: { spec, line, typeOnly, names } where names lists the imported names of a
 * named import/re-export (null for default, namespace, side-effect, dynamic and require forms).
 */
function importsOf(abs) {
  const text = readFileSync(abs, 'utf8');
  const kind = abs.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(
    abs,
    text,
    { languageVersion: ts.ScriptTarget.Latest, jsDocParsingMode: ts.JSDocParsingMode.ParseNone },
    false,
    kind,
  );
  const found = [];
  const add = (specNode, typeOnly, names) => {
    const line = sf.getLineAndCharacterOfPosition(specNode.getStart(sf)).line + 1;
    found.push({ spec: specNode.text, line, typeOnly, names });
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      let names = null;
      let typeOnly = false;
      if (clause) {
        const bindings = clause.namedBindings;
        const named = bindings && ts.isNamedImports(bindings) ? bindings.elements : null;
        if (!clause.name && named) names = named.map((e) => (e.propertyName ?? e.name).text);
        const allTypes =
          !clause.name && named !== null && named.length > 0 && named.every((e) => e.isTypeOnly);
        typeOnly = clause.isTypeOnly || allTypes;
      }
      add(node.moduleSpecifier, typeOnly, names);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const clause = node.exportClause;
      const named = clause && ts.isNamedExports(clause) ? clause.elements : null;
      const names = named ? named.map((e) => (e.propertyName ?? e.name).text) : null;
      const typeOnly =
        node.isTypeOnly || (named !== null && named.length > 0 && named.every((e) => e.isTypeOnly));
      add(node.moduleSpecifier, typeOnly, names);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteralLike(node.moduleReference.expression)
    ) {
      add(node.moduleReference.expression, node.isTypeOnly, null);
    } else if (ts.isImportTypeNode(node)) {
      // typeof import('dns-packet'), import('./x.js').T
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteralLike(arg.literal)) add(arg.literal, true, null);
    } else if (ts.isCallExpression(node) && node.arguments.length >= 1) {
      const first = node.arguments[0];
      const dynamic = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if ((dynamic || isRequire) && ts.isStringLiteralLike(first)) add(first, false, null);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** The src file a relative specifier names, or null. */
function resolveRelative(fromAbs, spec) {
  const base = resolve(dirname(fromAbs), spec);
  const candidates = [];
  const m = /\.([cm]?)js$/.exec(base);
  if (m) {
    const stem = base.slice(0, -m[0].length);
    candidates.push(`${stem}.${m[1]}ts`);
    if (m[1] === '') candidates.push(`${stem}.tsx`, `${stem}.d.ts`);
  } else if (/\.(?:[cm]?ts|tsx)$/.test(base)) {
    candidates.push(base);
  } else {
    candidates.push(
      `${base}.ts`,
      `${base}.tsx`,
      `${base}.d.ts`,
      join(base, 'index.ts'),
      join(base, 'index.tsx'),
    );
  }
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? null;
}

const normalizeExternal = (spec) => (isBuiltin(spec) && !spec.startsWith('node:') ? `node:${spec}` : spec);
const externalMatches = (spec, module) => spec === module || spec.startsWith(`${module}/`);

// ---------------------------------------------------------------------------------------------------
// Build the graph and check each edge
// ---------------------------------------------------------------------------------------------------

const files = collectFiles(srcDir)
  .map(relOf)
  .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const violations = []; // { file, line, text }
const report = (file, line, text) => violations.push({ file, line, text });

const groupByFile = new Map();
for (const rel of files) {
  const g = groupOf(rel);
  groupByFile.set(rel, g);
  if (!g)
    report(rel, 0, 'file is not in the layer table: add it to a group in GROUPS (scripts/check-imports.mjs)');
}

/** edges.get(from) = Map(to → { typeOnly }) */
const edges = new Map(files.map((f) => [f, new Map()]));
let importCount = 0;

for (const rel of files) {
  const abs = join(srcDir, rel);
  const group = groupByFile.get(rel);
  for (const imp of importsOf(abs)) {
    importCount++;
    const where = `imports '${imp.spec}'`;
    if (imp.spec.startsWith('./') || imp.spec.startsWith('../') || imp.spec === '.' || imp.spec === '..') {
      const targetAbs = resolveRelative(abs, imp.spec);
      const target = targetAbs ? relOf(targetAbs) : null;
      if (!target || target.startsWith('../')) {
        report(rel, imp.line, `${where}: does not resolve to a .ts file under ${srcLabel}/`);
        continue;
      }
      const prev = edges.get(rel).get(target);
      edges.get(rel).set(target, { typeOnly: (prev ? prev.typeOnly : true) && imp.typeOnly });
      checkLayer(rel, group, target, imp, where);
    } else if (group) {
      checkExternal(rel, group, imp, where);
    }
  }
}

function checkLayer(rel, group, target, imp, where) {
  const targetGroup = groupByFile.get(target);
  if (!group || !targetGroup) return; // reported as unknown files
  const what = `${where} (${show(target)})`;
  for (const rule of FORBIDDEN_EDGES) {
    if (inScope(rel, group, rule.from) && inScope(target, targetGroup, rule.to)) {
      report(rel, imp.line, `${what}: ${rule.from} never imports ${rule.to}: ${rule.why}`);
      return;
    }
  }
  if (targetGroup === group) return;
  if (ALLOWED_EDGES.some((a) => inScope(rel, group, a.from) && inScope(target, targetGroup, a.to))) return;
  if (group.mayImport) {
    if (!inAnyScope(target, targetGroup, group.mayImport)) {
      const list = [group.name, ...group.mayImport].join(', ');
      report(rel, imp.line, `${what}: ${group.name} may import only ${list} (not ${targetGroup.name})`);
      return;
    }
  } else if (targetGroup.rank > group.rank) {
    report(
      rel,
      imp.line,
      `${what}: upward import: ${group.name} (rank ${group.rank}) may not import ${targetGroup.name} (rank ${targetGroup.rank})`,
    );
    return;
  } else if (targetGroup.rank === group.rank) {
    report(
      rel,
      imp.line,
      `${what}: sibling import: ${group.name} and ${targetGroup.name} share rank ${group.rank} and stay independent`,
    );
    return;
  }
  if (targetGroup.importableBy && !inAnyScope(rel, group, targetGroup.importableBy)) {
    const by =
      targetGroup.importableBy.length > 0 ? `only ${targetGroup.importableBy.join(', ')}` : 'no other group';
    report(rel, imp.line, `${what}: ${by} may import ${targetGroup.name} (${group.name} may not)`);
  }
}

function checkExternal(rel, group, imp, where) {
  const spec = normalizeExternal(imp.spec);
  for (const rule of EXTERNAL_RULES) {
    if (!externalMatches(spec, rule.module)) continue;
    if (inAnyScope(rel, group, rule.only)) continue;
    const allowed = rule.namesAnywhere;
    if (allowed && imp.names && imp.names.length > 0 && imp.names.every((n) => allowed.includes(n))) continue;
    const owners =
      rule.only.length > 0 ? `only ${rule.only.join(', ')} may import it` : 'no file may import it';
    report(rel, imp.line, `${where}: ${owners} (${group.name} may not): ${rule.why}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Cycles: strongly connected components (Tarjan), then every elementary cycle in them (Johnson).
// ---------------------------------------------------------------------------------------------------

function components() {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const comp = new Map();
  let next = 0;
  let count = 0;
  const strong = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v).keys()) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        comp.set(w, count);
      } while (w !== v);
      count++;
    }
  };
  for (const f of files) if (!index.has(f)) strong(f);
  return comp;
}

function cycles() {
  const comp = components();
  const order = new Map(files.map((f, i) => [f, i]));
  const found = [];
  let truncated = false;
  for (const s of files) {
    if (truncated) break;
    const sIndex = order.get(s);
    const inPlay = (w) => comp.get(w) === comp.get(s) && order.get(w) >= sIndex;
    const blocked = new Set();
    const blockedBy = new Map();
    const path = [];
    const unblock = (u) => {
      blocked.delete(u);
      const waiting = blockedBy.get(u);
      if (!waiting) return;
      blockedBy.delete(u);
      for (const w of waiting) if (blocked.has(w)) unblock(w);
    };
    const circuit = (v) => {
      let closed = false;
      path.push(v);
      blocked.add(v);
      for (const w of edges.get(v).keys()) {
        if (truncated) break;
        if (!inPlay(w)) continue;
        if (w === s) {
          found.push([...path, s]);
          if (found.length >= MAX_CYCLES) truncated = true;
          closed = true;
        } else if (!blocked.has(w) && circuit(w)) {
          closed = true;
        }
      }
      if (closed) unblock(v);
      else {
        for (const w of edges.get(v).keys()) {
          if (!inPlay(w)) continue;
          if (!blockedBy.has(w)) blockedBy.set(w, new Set());
          blockedBy.get(w).add(v);
        }
      }
      path.pop();
      return closed;
    };
    circuit(s);
  }
  return { found, truncated };
}

// ---------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------

if (showGraph) {
  for (const [from, targets] of edges) {
    for (const [to, { typeOnly }] of [...targets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      console.log(`${show(from)} → ${show(to)}${typeOnly ? ' (type)' : ''}`);
    }
  }
}
// With --graph, stdout carries only the edges; the verdict goes to stderr.
const say = showGraph ? console.error : console.log;

const { found: cycleList, truncated } = cycles();
violations.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
for (const v of violations) console.error(`${show(v.file)}${v.line ? `:${v.line}` : ''}: ${v.text}`);
for (const c of cycleList) {
  const typeEdges = [];
  for (let i = 0; i + 1 < c.length; i++) {
    if (edges.get(c[i]).get(c[i + 1]).typeOnly) typeEdges.push(`${show(c[i])} → ${show(c[i + 1])}`);
  }
  const note = typeEdges.length > 0 ? ` (type-only: ${typeEdges.join(', ')})` : '';
  console.error(`cycle: ${c.map(show).join(' → ')}${note}`);
}
if (truncated) console.error(`cycle: stopped listing after ${MAX_CYCLES} cycles`);

const counts = `${files.length} files, ${importCount} imports`;
if (violations.length > 0 || cycleList.length > 0) {
  const cyclesText = truncated
    ? `${MAX_CYCLES}+ cycles`
    : `${cycleList.length} cycle${cycleList.length === 1 ? '' : 's'}`;
  console.error(
    `import rules: ${counts}: ${violations.length} violation${violations.length === 1 ? '' : 's'}, ${cyclesText}`,
  );
  process.exit(1);
}
say(`import rules: ${counts}, no cycles`);
