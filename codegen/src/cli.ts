// rank-relax-codegen generate | check | schema | ir  [--root DIR] [--spec FILE]
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { emitters as registered } from './emit/registry.ts';
import type { Emitter } from './emit/types.ts';
import { DEFAULT_SPEC, loadIr, planFor } from './pipeline.ts';
import { CodegenError } from './spec/errors.ts';
import { jsonSchema } from './spec/json-schema.ts';
import { canonicalJson } from './ir/abi-hash.ts';
import { diff, write } from './write/writer.ts';

const USAGE = `usage: rank-relax-codegen <command> [--root DIR] [--spec FILE] [--target NAME]...

commands:
  generate   write every generated file; remove generated files no longer produced
  check      write nothing; exit 1 listing every stale, missing or orphaned generated file
  schema     print the JSON Schema of the spec
  ir         print the normalised IR (what emitters see) as JSON

options:
  --root DIR    repository root (default: the folder above codegen/)
  --spec FILE   spec, relative to the root (default: ${DEFAULT_SPEC})
  --target NAME generate or check only this target's files (repeatable; one of ${registered.map((e) => e.name).join(', ')}):
                the capability check then holds the spec against these targets alone, and only
                their folders are written or searched for orphans (the schema is always included)`;

interface Options {
  command: string;
  root: string;
  spec: string;
  targets: string[];
}

function parseArgs(argv: readonly string[]): Options | string {
  const defaultRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const options: Options = { command: '', root: defaultRoot, spec: DEFAULT_SPEC, targets: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--root' || arg === '--spec' || arg === '--target') {
      const value = argv[++i];
      if (value === undefined) return `${arg} needs a value`;
      if (arg === '--root') options.root = resolve(value);
      else if (arg === '--spec') options.spec = value;
      else if (!registered.some((e) => e.name === value)) return `unknown target ${JSON.stringify(value)}`;
      else options.targets.push(value);
    } else if (arg === '-h' || arg === '--help') {
      return '';
    } else if (options.command === '' && !arg.startsWith('-')) {
      options.command = arg;
    } else {
      return `unexpected argument ${JSON.stringify(arg)}`;
    }
  }
  return options.command === '' ? 'no command given' : options;
}

function selected(options: Options): readonly Emitter[] {
  return options.targets.length === 0 ? registered : registered.filter((e) => options.targets.includes(e.name));
}

async function run(options: Options, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  switch (options.command) {
    case 'schema':
      out(`${JSON.stringify(jsonSchema(), null, 2)}\n`);
      return 0;
    case 'ir': {
      const ir = await loadIr(options.root, options.spec);
      out(`${JSON.stringify(JSON.parse(canonicalJson(ir)), null, 2)}\n`);
      return 0;
    }
    case 'generate': {
      const plan = planFor(await loadIr(options.root, options.spec), selected(options));
      const result = await write(options.root, plan);
      for (const p of result.written) out(`wrote   ${p}\n`);
      for (const p of result.removed) out(`removed ${p}\n`);
      out(`generate: ${result.written.length} written, ${result.removed.length} removed, ${result.unchanged} unchanged\n`);
      return 0;
    }
    case 'check': {
      const plan = planFor(await loadIr(options.root, options.spec), selected(options));
      const drift = await diff(options.root, plan);
      const problems = [
        ...drift.stale.map((p) => `stale     ${p}`),
        ...drift.missing.map((p) => `missing   ${p}`),
        ...drift.orphaned.map((p) => `orphaned  ${p}`),
      ];
      if (problems.length === 0) {
        out(`check: ${plan.files.length} generated files up to date\n`);
        return 0;
      }
      for (const p of problems) err(`${p}\n`);
      err(`check: ${problems.length} generated file${problems.length === 1 ? ' is' : 's are'} out of date; run \`pnpm generate\`\n`);
      return 1;
    }
    default:
      err(`unknown command ${JSON.stringify(options.command)}\n${USAGE}\n`);
      return 2;
  }
}

/** Runs the CLI; returns the exit code. Errors are reported as text, never as a stack trace. */
export async function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const options = parseArgs(argv);
  if (typeof options === 'string') {
    if (options === '') {
      out(`${USAGE}\n`);
      return 0;
    }
    err(`${options}\n${USAGE}\n`);
    return 2;
  }
  try {
    return await run(options, out, err);
  } catch (e) {
    if (e instanceof CodegenError) {
      err(`${e.lines.join('\n')}\n`);
      return 1;
    }
    err(`rank-relax-codegen: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.RANK_RELAX_CODEGEN_DEBUG) err(`${e instanceof Error ? e.stack : ''}\n`);
    return 1;
  }
}
