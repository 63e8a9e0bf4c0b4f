#!/usr/bin/env node
// One version for everything: `package.version` in bindings-spec/rank-relax.yaml is the single
// source; every other place that states the project's version must equal it. Reads them all,
// prints every file it looked at (and which expected ones do not exist yet), and exits 1 listing
// each mismatch. Node >= 20, no dependencies.
//
// usage: node scripts/check-versions.mjs [--root DIR] [--tag vX.Y.Z] [--self-test]
//   --root DIR   check the tree at DIR (default: the repository this script lives in)
//   --tag TAG    also require the release tag TAG to be `v<version>` (release.yml passes the pushed tag)
//   --self-test  run the checker on temporary trees (one consistent, some with a mismatch) and
//                exit 0 only if it accepts the first and rejects each of the others
//
// What is compared with the spec's version:
//   Cargo.toml             [workspace.package] version, and each member crate's own version (or
//                          `version.workspace = true`), and the version of every path dependency
//                          between members
//   Cargo.lock             the locked version of every workspace member (no stale lockfile)
//   package.json           every package of the pnpm workspace (pnpm-workspace.yaml), the root one
//                          only if it states a version (a private root without one is skipped), the
//                          napi per-platform packages under packages/node/npm/*, and the pins of
//                          those platform packages in optionalDependencies
//   pyproject.toml         packages/python: [project] version, or `dynamic = ["version"]` (maturin
//                          then takes the crate's version, checked above)
//   Project.toml           packages/julia/RankRelax
//   rank_relax.h           the generated RR_VERSION of the C header
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SPEC = 'bindings-spec/rank-relax.yaml';
const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), '..');

// ---------------------------------------------------------------------------------------------
// Minimal readers: enough for the files above, not general YAML/TOML parsers.

function stripComment(line) {
  // Drops a trailing `# comment` that is outside quotes.
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

function unquote(v) {
  v = v.trim();
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) return v.slice(1, -1);
  return v;
}

/** The scalar at a 2-level path (`package.version`) of a block-style YAML file. */
function yamlScalar(text, [top, key]) {
  let inTop = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = stripComment(raw).replace(/\s+$/, '');
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) {
      inTop = line === `${top}:`;
      continue;
    }
    if (!inTop) continue;
    const m = /^ {2}([A-Za-z0-9_-]+):\s*(.*)$/.exec(line);
    if (m && m[1] === key) return unquote(m[2]);
  }
  return undefined;
}

/** The package globs of pnpm-workspace.yaml (`packages:` list). */
function pnpmWorkspaceGlobs(text) {
  const globs = [];
  let inPackages = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = stripComment(raw).replace(/\s+$/, '');
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) {
      inPackages = line === 'packages:';
      continue;
    }
    const m = inPackages && /^\s+-\s+(.+)$/.exec(line);
    if (m) globs.push(unquote(m[1]));
  }
  return globs;
}

/**
 * TOML, as a map from `section` to entries. Each entry: {key, value, line}; `value` is a string
 * for a string, the raw text otherwise (inline tables kept as text; `inlineTable()` reads them).
 * Array tables (`[[x]]`) become a list under `[[x]]`.
 */
function parseToml(text) {
  const sections = new Map([['', []]]);
  const arrays = new Map();
  let cur = sections.get('');
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = stripComment(lines[i]).trim();
    if (!line) continue;
    let m;
    if ((m = /^\[\[\s*([^\]]+?)\s*\]\]$/.exec(line))) {
      cur = [];
      if (!arrays.has(m[1])) arrays.set(m[1], []);
      arrays.get(m[1]).push(cur);
      continue;
    }
    if ((m = /^\[\s*([^\]]+?)\s*\]$/.exec(line))) {
      if (!sections.has(m[1])) sections.set(m[1], []);
      cur = sections.get(m[1]);
      continue;
    }
    if ((m = /^("[^"]*"|[A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line))) {
      let value = m[2];
      // multi-line arrays / inline tables: join until brackets balance
      const open = (s) => (s.match(/[[{]/g) || []).length - (s.match(/[\]}]/g) || []).length;
      while (open(value) > 0 && i + 1 < lines.length) value += ' ' + stripComment(lines[++i]).trim();
      value = value.trim();
      const str = /^"((?:[^"\\]|\\.)*)"$|^'([^']*)'$/.exec(value);
      cur.push({ key: unquote(m[1]), value: str ? (str[1] ?? str[2]) : value, line: i + 1 });
    }
  }
  return { sections, arrays };
}

function tomlGet(toml, section, key) {
  const entries = toml.sections.get(section);
  return entries && entries.find((e) => e.key === key);
}

/** `{ path = "../x", version = "0.1.0" }` → {path: '../x', version: '0.1.0'} (strings only). */
function inlineTable(text) {
  const out = {};
  if (!/^\{.*\}$/.test(text)) return out;
  for (const m of text.slice(1, -1).matchAll(/([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*'|true|false)/g)) {
    out[m[1]] = unquote(m[2]);
  }
  return out;
}

/** Expands `dir/*` and plain paths of a workspace glob list (no `**`, enough for pnpm-workspace.yaml). */
function expandGlobs(root, globs) {
  const dirs = new Set();
  for (const g of globs) {
    if (g.startsWith('!')) continue;
    const parts = g.replace(/\/+$/, '').split('/');
    let cands = [''];
    for (const p of parts) {
      const next = [];
      for (const c of cands) {
        if (p === '*' || p === '**') {
          const abs = join(root, c);
          if (!existsSync(abs)) continue;
          for (const d of readdirSync(abs, { withFileTypes: true })) {
            if (d.isDirectory() && d.name !== 'node_modules' && !d.name.startsWith('.')) next.push(c ? `${c}/${d.name}` : d.name);
          }
        } else next.push(c ? `${c}/${p}` : p);
      }
      cands = next;
    }
    for (const c of cands) dirs.add(c);
  }
  return [...dirs].sort();
}

// ---------------------------------------------------------------------------------------------

/** Requirement `0.1.0`, `=0.1.0`, `^0.1.0` names exactly `version`. */
function reqNames(req, version) {
  return req.replace(/^[=^~]\s*/, '') === version;
}

function check(root, { tag } = {}) {
  const checked = []; // {file, what, found, ok}
  const absent = []; // {file, why}
  const problems = []; // strings
  const read = (p) => readFileSync(join(root, p), 'utf8');
  const has = (p) => existsSync(join(root, p));

  // The source.
  if (!has(SPEC)) {
    problems.push(`${SPEC}: missing (it is the one source of the version)`);
    return { version: undefined, checked, absent, problems };
  }
  const version = yamlScalar(read(SPEC), ['package', 'version']);
  if (!version) {
    problems.push(`${SPEC}: no package.version`);
    return { version, checked, absent, problems };
  }
  if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(version)) problems.push(`${SPEC}: package.version "${version}" is not X.Y.Z[-pre]`);

  const expect = (file, what, found) => {
    const ok = found === version;
    checked.push({ file, what, found, ok });
    if (!ok) problems.push(`${file}: ${what} is ${found === undefined ? 'missing' : `"${found}"`}, want "${version}"`);
  };

  if (tag !== undefined) {
    const ok = tag.replace(/^refs\/tags\//, '') === `v${version}`;
    checked.push({ file: '(release tag)', what: 'tag', found: tag, ok });
    if (!ok) problems.push(`release tag "${tag}" does not match ${SPEC} package.version: want "v${version}"`);
  }

  // Cargo workspace.
  const memberNames = new Set();
  if (has('Cargo.toml')) {
    const ws = parseToml(read('Cargo.toml'));
    expect('Cargo.toml', '[workspace.package] version', tomlGet(ws, 'workspace.package', 'version')?.value);
    const membersRaw = tomlGet(ws, 'workspace', 'members')?.value ?? '[]';
    const members = [...membersRaw.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    const memberDirs = expandGlobs(root, members);
    const manifests = [];
    for (const dir of memberDirs) {
      const file = `${dir}/Cargo.toml`;
      if (!has(file)) {
        absent.push({ file, why: 'workspace member without a manifest yet' });
        continue;
      }
      const t = parseToml(read(file));
      const name = tomlGet(t, 'package', 'name')?.value;
      if (name) memberNames.add(name);
      manifests.push({ file, t });
      const v = tomlGet(t, 'package', 'version')?.value;
      const inherits = tomlGet(t, 'package', 'version.workspace')?.value === 'true' || inlineTable(v ?? '').workspace === 'true';
      if (inherits) checked.push({ file, what: '[package] version', found: 'version.workspace = true', ok: true });
      else expect(file, '[package] version', v);
    }
    // path dependencies between members carry a version requirement (cargo publish needs it)
    for (const { file, t } of manifests) {
      for (const [section, entries] of t.sections) {
        if (!/(^|\.)(dependencies|dev-dependencies|build-dependencies)$/.test(section)) continue;
        for (const e of entries) {
          const dep = inlineTable(e.value);
          const depName = dep.package ?? e.key;
          if (!dep.path || !memberNames.has(depName)) continue;
          if (dep.version === undefined) {
            checked.push({ file, what: `[${section}] ${e.key} (path, no version)`, found: '-', ok: true });
            continue;
          }
          const ok = reqNames(dep.version, version);
          checked.push({ file, what: `[${section}] ${e.key} version`, found: dep.version, ok });
          if (!ok) problems.push(`${file}: [${section}] ${e.key} = { path = "${dep.path}", version = "${dep.version}" }, want "${version}"`);
        }
      }
    }
    if (has('Cargo.lock')) {
      const lock = parseToml(read('Cargo.lock'));
      for (const pkg of lock.arrays.get('package') ?? []) {
        const name = pkg.find((e) => e.key === 'name')?.value;
        const source = pkg.find((e) => e.key === 'source');
        if (!memberNames.has(name) || source) continue;
        expect('Cargo.lock', `package ${name}`, pkg.find((e) => e.key === 'version')?.value);
      }
    } else absent.push({ file: 'Cargo.lock', why: 'not generated yet' });
  } else absent.push({ file: 'Cargo.toml', why: 'no Cargo workspace' });

  // npm packages.
  const pkgFiles = [];
  if (has('package.json')) pkgFiles.push({ file: 'package.json', root: true });
  let globs = [];
  if (has('pnpm-workspace.yaml')) globs = pnpmWorkspaceGlobs(read('pnpm-workspace.yaml'));
  else absent.push({ file: 'pnpm-workspace.yaml', why: 'no pnpm workspace' });
  for (const dir of expandGlobs(root, globs)) {
    if (has(`${dir}/package.json`)) pkgFiles.push({ file: `${dir}/package.json` });
    // napi per-platform packages (napi create-npm-dirs)
    if (has(`${dir}/npm`)) {
      for (const sub of expandGlobs(root, [`${dir}/npm/*`])) {
        if (has(`${sub}/package.json`)) pkgFiles.push({ file: `${sub}/package.json` });
      }
    }
  }
  if (!pkgFiles.some((p) => p.file === 'packages/node/package.json')) absent.push({ file: 'packages/node/package.json', why: 'not written yet' });
  for (const { file, root: isRoot } of pkgFiles) {
    let pj;
    try {
      pj = JSON.parse(read(file));
    } catch (e) {
      problems.push(`${file}: not valid JSON (${e.message})`);
      continue;
    }
    if (isRoot && pj.private && pj.version === undefined) {
      checked.push({ file, what: 'version', found: '(private root, none)', ok: true });
      continue;
    }
    expect(file, `version (${pj.name ?? 'unnamed'})`, pj.version);
    // pins of this package's own platform packages (`<name>-<platform>`)
    for (const [dep, req] of Object.entries(pj.optionalDependencies ?? {})) {
      if (!pj.name || !dep.startsWith(`${pj.name}-`)) continue;
      const ok = typeof req === 'string' && (req.startsWith('workspace:') || reqNames(req, version));
      checked.push({ file, what: `optionalDependencies ${dep}`, found: req, ok });
      if (!ok) problems.push(`${file}: optionalDependencies ${dep} is "${req}", want "${version}"`);
    }
  }

  // Python.
  const pyproject = 'packages/python/pyproject.toml';
  if (has(pyproject)) {
    const t = parseToml(read(pyproject));
    const dynamic = tomlGet(t, 'project', 'dynamic')?.value ?? '';
    const v = tomlGet(t, 'project', 'version')?.value;
    if (v === undefined && /"version"/.test(dynamic)) {
      checked.push({ file: pyproject, what: '[project] version', found: 'dynamic (from the Cargo crate)', ok: true });
    } else expect(pyproject, '[project] version', v);
  } else absent.push({ file: pyproject, why: 'not written yet' });

  // Julia.
  const project = 'packages/julia/RankRelax/Project.toml';
  if (has(project)) expect(project, 'version', tomlGet(parseToml(read(project)), '', 'version')?.value);
  else absent.push({ file: project, why: 'not written yet' });

  // Generated C header.
  const header = 'crates/rank-relax-ffi/include/rank_relax.h';
  if (has(header)) {
    const m = /^#define\s+RR_VERSION\s+"([^"]*)"/m.exec(read(header));
    expect(header, 'RR_VERSION (generated)', m ? m[1] : undefined);
  } else absent.push({ file: header, why: 'not generated yet' });

  return { version, checked, absent, problems };
}

function report(result, root) {
  const { version, checked, absent, problems } = result;
  console.log(`check-versions: ${SPEC} package.version = ${version ?? '(none)'}  (root ${root})`);
  const w = Math.max(10, ...checked.map((c) => c.file.length));
  for (const c of checked) {
    console.log(`  ${c.ok ? 'ok      ' : 'MISMATCH'}  ${c.file.padEnd(w)}  ${c.what}: ${c.found ?? '(missing)'}`);
  }
  for (const a of absent) console.log(`  absent    ${a.file.padEnd(w)}  ${a.why}; not checked`);
  const files = new Set(checked.filter((c) => !c.file.startsWith('(')).map((c) => c.file));
  if (problems.length) {
    console.error(`\ncheck-versions: ${problems.length} mismatch${problems.length === 1 ? '' : 'es'}:`);
    for (const p of problems) console.error(`  - ${p}`);
    console.error(`change them to ${SPEC}'s package.version (the one source), or bump that and every file above together.`);
    return 1;
  }
  console.log(`check-versions: ${files.size} files agree on ${version}${absent.length ? `; ${absent.length} expected file(s) absent (listed above)` : ''}`);
  return 0;
}

// ---------------------------------------------------------------------------------------------

function writeTree(dir, files) {
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
}

function selfTest() {
  const good = {
    [SPEC]: 'package:\n  name: rank-relax\n  version: 1.2.3 # the one source\n  abi_version: 1\nops:\n  x:\n    version: 9.9.9\n',
    'Cargo.toml': '[workspace]\nmembers = [\n  "crates/core",\n  "crates/ffi",\n]\n\n[workspace.package]\nversion = "1.2.3"\n',
    'crates/core/Cargo.toml': '[package]\nname = "rank-relax"\nversion.workspace = true\n',
    'crates/ffi/Cargo.toml': '[package]\nname = "rank-relax-ffi"\nversion = "1.2.3"\n\n[dependencies]\nrank-relax = { path = "../core", version = "1.2.3" }\nrayon = "1"\n',
    'Cargo.lock': 'version = 4\n\n[[package]]\nname = "rank-relax"\nversion = "1.2.3"\n\n[[package]]\nname = "rank-relax-ffi"\nversion = "1.2.3"\n\n[[package]]\nname = "rayon"\nversion = "1.10.0"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n',
    'package.json': '{ "name": "root", "private": true }\n',
    'pnpm-workspace.yaml': 'packages:\n  - codegen\n  - "packages/*"\n',
    'codegen/package.json': '{ "name": "gen", "version": "1.2.3", "private": true }\n',
    'packages/node/package.json': '{ "name": "@x/node", "version": "1.2.3", "optionalDependencies": { "@x/node-linux-x64-gnu": "1.2.3" } }\n',
    'packages/node/npm/linux-x64-gnu/package.json': '{ "name": "@x/node-linux-x64-gnu", "version": "1.2.3" }\n',
    'packages/python/pyproject.toml': '[project]\nname = "rank-relax"\nversion = "1.2.3"\n',
    'packages/julia/RankRelax/Project.toml': 'name = "RankRelax"\nversion = "1.2.3"\n\n[deps]\nLibdl = "x"\n',
    'crates/rank-relax-ffi/include/rank_relax.h': '#define RR_VERSION "1.2.3"\n',
  };
  const cases = [
    ['consistent tree', {}, 0, null],
    ['consistent tree, matching tag', { tag: 'v1.2.3' }, 0, null],
    ['wrong release tag', { tag: 'v1.2.4' }, 1, 'release tag "v1.2.4"'],
    ['Julia Project.toml behind', { 'packages/julia/RankRelax/Project.toml': 'name = "RankRelax"\nversion = "1.2.2"\n' }, 1, 'packages/julia/RankRelax/Project.toml: version is "1.2.2"'],
    ['pyproject ahead', { 'packages/python/pyproject.toml': '[project]\nversion = "1.3.0"\n' }, 1, 'packages/python/pyproject.toml: [project] version is "1.3.0"'],
    ['workspace.package', { 'Cargo.toml': '[workspace]\nmembers = ["crates/core", "crates/ffi"]\n[workspace.package]\nversion = "1.2.0"\n' }, 1, 'Cargo.toml: [workspace.package] version is "1.2.0"'],
    ['path dependency version', { 'crates/ffi/Cargo.toml': '[package]\nname = "rank-relax-ffi"\nversion.workspace = true\n[dependencies]\nrank-relax = { path = "../core", version = "1.1.0" }\n' }, 1, 'rank-relax = { path = "../core", version = "1.1.0" }'],
    ['stale Cargo.lock', { 'Cargo.lock': '[[package]]\nname = "rank-relax"\nversion = "1.2.2"\n' }, 1, 'Cargo.lock: package rank-relax is "1.2.2"'],
    ['npm platform package', { 'packages/node/npm/linux-x64-gnu/package.json': '{ "name": "@x/node-linux-x64-gnu", "version": "0.0.1" }' }, 1, 'packages/node/npm/linux-x64-gnu/package.json: version'],
    ['npm optionalDependencies pin', { 'packages/node/package.json': '{ "name": "@x/node", "version": "1.2.3", "optionalDependencies": { "@x/node-linux-x64-gnu": "1.2.0" } }' }, 1, 'optionalDependencies @x/node-linux-x64-gnu is "1.2.0"'],
    ['codegen package.json', { 'codegen/package.json': '{ "name": "gen", "version": "0.0.0" }' }, 1, 'codegen/package.json: version (gen) is "0.0.0"'],
    ['generated header', { 'crates/rank-relax-ffi/include/rank_relax.h': '#define RR_VERSION "1.2.0"\n' }, 1, 'RR_VERSION (generated) is "1.2.0"'],
    ['missing packages are listed, not failed', { 'packages/julia/RankRelax/Project.toml': null, 'packages/python/pyproject.toml': null }, 0, 'absent    packages/julia/RankRelax/Project.toml'],
  ];
  let failed = 0;
  for (const [name, change, wantRc, wantText] of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'rr-check-versions-'));
    try {
      const files = { ...good };
      let tag;
      for (const [k, v] of Object.entries(change)) {
        if (k === 'tag') tag = v;
        else if (v === null) delete files[k];
        else files[k] = v;
      }
      writeTree(dir, files);
      const args = [SELF, '--root', dir, ...(tag ? ['--tag', tag] : [])];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
      const out = `${r.stdout}${r.stderr}`;
      const ok = r.status === wantRc && (!wantText || out.includes(wantText));
      if (!ok) {
        failed++;
        console.log(`FAIL  ${name}: exit ${r.status} (want ${wantRc})${wantText ? `, output should mention ${JSON.stringify(wantText)}` : ''}\n${out.replace(/^/gm, '      ')}`);
      } else console.log(`ok    ${name} (exit ${r.status})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`check-versions self-test: ${cases.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------

function main(argv) {
  let root = REPO;
  let tag;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--self-test') return selfTest();
    if (a === '--root') root = resolve(argv[++i] ?? '.');
    else if (a === '--tag') tag = argv[++i];
    else if (a === '-h' || a === '--help') {
      console.log(readFileSync(SELF, 'utf8').split('\n').slice(1, 11).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      return 0;
    } else {
      console.error(`check-versions: unknown argument ${a} (see --help)`);
      return 2;
    }
  }
  return report(check(root, { tag }), root);
}

process.exitCode = main(process.argv.slice(2));
