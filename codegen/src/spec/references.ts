// Checks that need more than one part of the spec at once: names of map keys, references between
// sections, name clashes inside an op, the example call. Works on the raw (unvalidated) data and
// skips anything whose shape zod already reports, so both run on every spec and all errors of a
// bad spec come out together.
import { NAME_EXPECTED, NAME_PATTERN } from './schema.ts';
import type { SpecIssue } from './errors.ts';

type Path = readonly (string | number)[];
type Raw = Record<string, unknown>;

const DIMS = ['batch', 'n'];

function isRecord(x: unknown): x is Raw {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function entries(x: unknown): [string, unknown][] {
  return isRecord(x) ? Object.entries(x) : [];
}

function list(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

function str(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined;
}

function oneOf(names: readonly string[]): string {
  return names.length === 0 ? 'a defined name (there are none)' : `one of ${[...names].sort().join(' | ')}`;
}

export function checkReferences(spec: unknown): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const report = (path: Path, expected: string, got: unknown) => issues.push({ path, expected, got });
  if (!isRecord(spec)) return issues;

  for (const section of ['enums', 'params', 'ops']) {
    for (const [key] of entries(spec[section])) {
      if (!NAME_PATTERN.test(key)) report([section, key], NAME_EXPECTED, key);
    }
  }

  const enumValues = new Map<string, string[]>();
  for (const [enumName, def] of entries(spec.enums)) {
    const seen: string[] = [];
    list(isRecord(def) ? def.values : undefined).forEach((value, i) => {
      const valueName = isRecord(value) ? str(value.name) : undefined;
      if (valueName === undefined) return;
      if (seen.includes(valueName)) report(['enums', enumName, 'values', i, 'name'], 'a value name not used before in this enum', valueName);
      seen.push(valueName);
    });
    enumValues.set(enumName, seen);
  }

  const params = new Map<string, Raw>();
  for (const [paramName, def] of entries(spec.params)) {
    if (!isRecord(def)) continue;
    params.set(paramName, def);
    checkParam(['params', paramName], def, enumValues, report);
  }

  for (const [opName, op] of entries(spec.ops)) {
    if (isRecord(op)) checkOp(['ops', opName], op, params, enumValues, report);
  }
  return issues;
}

type Report = (path: Path, expected: string, got: unknown) => void;

function checkParam(path: Path, def: Raw, enumValues: Map<string, string[]>, report: Report): void {
  if (def.type === 'enum') {
    const enumName = str(def.enum);
    if (enumName === undefined) return;
    const values = enumValues.get(enumName);
    if (values === undefined) {
      report([...path, 'enum'], oneOf([...enumValues.keys()]), enumName);
    } else if (typeof def.default === 'string' && !values.includes(def.default)) {
      report([...path, 'default'], `one of ${values.join(' | ')}`, def.default);
    }
  } else if (def.type === 'real' && typeof def.default === 'number') {
    const constraint = str(def.constraint) ?? 'finite';
    const ok = satisfies(def.default, constraint);
    if (ok === false) report([...path, 'default'], `${describeConstraint(constraint)} (constraint: ${constraint})`, def.default);
  }
}

function satisfies(x: number, constraint: string): boolean | undefined {
  if (!Number.isFinite(x)) return false;
  if (constraint === 'positive') return x > 0;
  if (constraint === 'nonnegative') return x >= 0;
  if (constraint === 'finite') return true;
  return undefined; // zod reports an unknown constraint
}

function describeConstraint(constraint: string): string {
  if (constraint === 'positive') return 'a finite number > 0';
  if (constraint === 'nonnegative') return 'a finite number ≥ 0';
  return 'a finite number';
}

function checkOp(path: Path, op: Raw, params: Map<string, Raw>, enumValues: Map<string, string[]>, report: Report): void {
  // One namespace per op: the dims, every declared argument and every derived one.
  const taken = new Map<string, string>(DIMS.map((d) => [d, `the dimension "${d}"`]));
  const claim = (name: string, what: string, at: Path) => {
    const other = taken.get(name);
    if (other !== undefined) report(at, `a name unused by the op's other arguments (it clashes with ${other})`, name);
    else taken.set(name, what);
  };

  const inputs = list(op.inputs).map((x) => (isRecord(x) ? x : {}));
  const outputs = list(op.outputs).map((x) => (isRecord(x) ? x : {}));
  const residuals = list(op.residuals).map((x) => (isRecord(x) ? x : {}));
  inputs.forEach((x, i) => { const n = str(x.name); if (n) claim(n, `input "${n}"`, [...path, 'inputs', i, 'name']); });

  const opParams: string[] = [];
  list(op.params).forEach((p, i) => {
    if (typeof p !== 'string') return;
    if (!params.has(p)) report([...path, 'params', i], oneOf([...params.keys()]), p);
    else if (opParams.includes(p)) report([...path, 'params', i], 'a param not listed before in this op', p);
    else claim(p, `param "${p}"`, [...path, 'params', i]);
    opParams.push(p);
  });
  outputs.forEach((x, i) => { const n = str(x.name); if (n) claim(n, `output "${n}"`, [...path, 'outputs', i, 'name']); });
  residuals.forEach((x, i) => { const n = str(x.name); if (n) claim(n, `residual "${n}"`, [...path, 'residuals', i, 'name']); });
  // Derived backward arguments (see ir/normalise.ts) must not clash either.
  outputs.forEach((x, i) => { const n = str(x.name); if (n) claim(`cotangent_${n}`, `the cotangent of "${n}"`, [...path, 'outputs', i, 'name']); });
  inputs.forEach((x, i) => {
    const n = str(x.name);
    if (n && x.differentiable === true) claim(`grad_${n}`, `the gradient of "${n}"`, [...path, 'inputs', i, 'name']);
  });
  list(op.params).forEach((p, i) => {
    if (typeof p === 'string' && params.get(p)?.grad === true) claim(`grad_${p}`, `the gradient of "${p}"`, [...path, 'params', i]);
  });

  const saveable = [...inputs, ...outputs].map((x) => str(x.name)).filter((n): n is string => n !== undefined);
  const saves: string[] = [];
  list(op.saves).forEach((s, i) => {
    if (typeof s !== 'string') return;
    if (!saveable.includes(s)) report([...path, 'saves', i], `one of the op's inputs and outputs (${saveable.join(' | ')})`, s);
    else if (saves.includes(s)) report([...path, 'saves', i], 'a name not listed before in saves', s);
    saves.push(s);
  });

  // Checked once the inputs' flags are well-formed (the schema reports those).
  if (op.in_place_vjp === true && inputs.every((x) => typeof x.differentiable === 'boolean')) {
    // A per-row ([batch]) tensor cannot hold a [batch, n] gradient; other bad shapes are the
    // schema's to report.
    const perRow = (x: Raw) => JSON.stringify(x.shape) === JSON.stringify(['batch']);
    const differentiable = inputs.filter((x) => x.differentiable === true);
    if (outputs.length !== 1 || differentiable.length !== 1 || [...outputs, ...differentiable].some(perRow)) {
      report(
        [...path, 'in_place_vjp'],
        'an op with exactly one output and one differentiable input, both of shape [batch, n] (the gradient takes the cotangent\'s place)',
        true,
      );
    }
  }

  if (isRecord(op.example)) checkExample([...path, 'example'], op.example, inputs, opParams, params, enumValues, report);
}

function checkExample(
  path: Path,
  example: Raw,
  inputs: readonly Raw[],
  opParams: readonly string[],
  params: Map<string, Raw>,
  enumValues: Map<string, string[]>,
  report: Report,
): void {
  const inputNames = inputs.map((x) => str(x.name)).filter((n): n is string => n !== undefined);
  for (const [key, value] of Object.entries(example)) {
    if (key === 'params') continue;
    if (!inputNames.includes(key)) { report([...path, key], `one of ${[...inputNames, 'params'].join(' | ')}`, key); continue; }
    const rows = list(value);
    const width = Array.isArray(rows[0]) ? rows[0].length : -1;
    const ok = Array.isArray(value) && rows.length > 0 && width > 0
      && rows.every((r) => Array.isArray(r) && r.length === width && r.every((v) => typeof v === 'number' && Number.isFinite(v)));
    if (!ok) report([...path, key], 'a non-empty list of rows of finite numbers, all of one length', value);
  }
  for (const name of inputNames) {
    if (!(name in example)) report([...path, name], 'a value for every input of the op', undefined);
  }
  const given = example.params;
  if (given === undefined) return;
  if (!isRecord(given)) { report([...path, 'params'], 'a map from param name to value', given); return; }
  for (const [key, value] of Object.entries(given)) {
    const def = params.get(key);
    if (!opParams.includes(key) || def === undefined) { report([...path, 'params', key], oneOf(opParams), key); continue; }
    if (def.type === 'real' && (typeof value !== 'number' || satisfies(value, str(def.constraint) ?? 'finite') === false)) {
      report([...path, 'params', key], describeConstraint(str(def.constraint) ?? 'finite'), value);
    } else if (def.type === 'bool' && typeof value !== 'boolean') {
      report([...path, 'params', key], 'true or false', value);
    } else if (def.type === 'enum') {
      const values = enumValues.get(str(def.enum) ?? '') ?? [];
      if (typeof value !== 'string' || !values.includes(value)) report([...path, 'params', key], `one of ${values.join(' | ')}`, value);
    }
  }
}
