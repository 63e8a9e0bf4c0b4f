// Checks that need more than one part of the spec at once: names of map keys, references between
// sections, name clashes inside an op, the example call. Works on the raw (unvalidated) data and
// skips anything whose shape zod already reports, so both run on every spec and all errors of a
// bad spec come out together.
import { BUILTIN_DIMS, NAME_EXPECTED, NAME_PATTERN, PARAM_TYPES } from './schema.ts';
import { checkMessages } from '../ir/messages.ts';
import type { SpecIssue } from './errors.ts';

type Path = readonly (string | number)[];
type Raw = Record<string, unknown>;

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
  for (const issue of checkMessages(spec.messages)) report(issue.path, issue.expected, issue.got);
  return issues;
}

type Report = (path: Path, expected: string, got: unknown) => void;


function checkParam(path: Path, def: Raw, enumValues: Map<string, string[]>, report: Report): void {
  switch (def.type) {
    case 'enum': {
      const enumName = str(def.enum);
      if (enumName === undefined) return;
      const values = enumValues.get(enumName);
      if (values === undefined) {
        report([...path, 'enum'], oneOf([...enumValues.keys()]), enumName);
      } else if (typeof def.default === 'string' && !values.includes(def.default)) {
        report([...path, 'default'], `one of ${values.join(' | ')}`, def.default);
      }
      return;
    }
    case 'real':
      if (typeof def.default === 'number') {
        const constraint = str(def.constraint) ?? 'finite';
        if (satisfies(def.default, constraint) === false) {
          report([...path, 'default'], `${describeConstraint(constraint)} (constraint: ${constraint})`, def.default);
        }
      }
      return;
    case 'int': {
      // A bound is an integer or the dim n (the one dim besides batch that every op has); a default
      // must lie within the numeric bounds (a bound of n holds per call).
      const bounds = { min: intOrNull(def.min), max: intOrNull(def.max) };
      for (const side of ['min', 'max'] as const) {
        const b = def[side];
        if (typeof b === 'string' && b !== 'n') report([...path, side], 'an integer or the dimension n', b);
      }
      if (bounds.min !== null && bounds.max !== null && bounds.min > bounds.max) {
        report([...path, 'max'], `an integer ≥ min (${bounds.min})`, bounds.max);
      }
      const d = intOrNull(def.default);
      if (d !== null && !inRange(d, bounds.min, bounds.max)) report([...path, 'default'], `an integer in ${describeRange(bounds.min, bounds.max)}`, d);
      return;
    }
    case 'list': {
      const min = typeof def.min === 'number' ? def.min : null;
      const max = typeof def.max === 'number' ? def.max : null;
      if (min !== null && max !== null && min > max) report([...path, 'max'], `a number ≥ min (${min})`, max);
      if (Array.isArray(def.default)) checkListValue([...path, 'default'], def.default, def, report);
      return;
    }
    default:
      return; // zod reports an unknown type
  }
}

function intOrNull(x: unknown): number | null {
  return typeof x === 'number' && Number.isInteger(x) ? x : null;
}

function inRange(x: number, min: number | null, max: number | null): boolean {
  return Number.isFinite(x) && (min === null || x >= min) && (max === null || x <= max);
}

function describeRange(min: number | null, max: number | null): string {
  return `[${min ?? '-∞'}, ${max ?? '∞'}]`;
}

/** A value of a list param (its default or an example's): length and every element. */
function checkListValue(path: Path, value: readonly unknown[], def: Raw, report: Report): void {
  const min = typeof def.min === 'number' ? def.min : null;
  const max = typeof def.max === 'number' ? def.max : null;
  const minLength = typeof def.min_length === 'number' ? def.min_length : 1;
  if (value.length < minLength) {
    report(path, `a list of at least ${minLength} number${minLength === 1 ? '' : 's'} (min_length ${minLength})`, value);
  }
  value.forEach((x, i) => {
    if (typeof x === 'number' && !inRange(x, min, max)) report([...path, i], `a finite number in ${describeRange(min, max)}`, x);
  });
}

function satisfies(x: number, constraint: string): boolean | undefined {
  if (!Number.isFinite(x)) return false;
  switch (constraint) {
    case 'positive':
      return x > 0;
    case 'nonnegative':
      return x >= 0;
    case 'finite':
      return true;
    default:
      return undefined; // zod reports an unknown constraint
  }
}

function describeConstraint(constraint: string): string {
  switch (constraint) {
    case 'positive':
      return 'a finite number > 0';
    case 'nonnegative':
      return 'a finite number ≥ 0';
    default:
      return 'a finite number';
  }
}

/** The param name of an entry of an op's params: `k` or `{ name: k, … }`. */
function opParamName(p: unknown): string | undefined {
  return typeof p === 'string' ? p : isRecord(p) ? str(p.name) : undefined;
}

/** The element type of a tensor (defaults as in ir/normalise.ts). */
function dtypeOf(x: Raw): string {
  return str(x.dtype) ?? 'real';
}

function outputDifferentiable(x: Raw): boolean {
  return typeof x.differentiable === 'boolean' ? x.differentiable : dtypeOf(x) === 'real';
}

function checkOp(path: Path, op: Raw, params: Map<string, Raw>, enumValues: Map<string, string[]>, report: Report): void {
  // One namespace per op: the dims, every declared argument and every derived one.
  const taken = new Map<string, string>(BUILTIN_DIMS.map((d) => [d, `the dimension "${d}"`]));
  const claim = (name: string, what: string, at: Path) => {
    const other = taken.get(name);
    if (other !== undefined) report(at, `a name unused by the op's other arguments (it clashes with ${other})`, name);
    else taken.set(name, what);
  };

  const inputs = list(op.inputs).map((x) => (isRecord(x) ? x : {}));
  const outputs = list(op.outputs).map((x) => (isRecord(x) ? x : {}));
  const residuals = list(op.residuals).map((x) => (isRecord(x) ? x : {}));
  const listed = list(op.params).map(opParamName).filter((n): n is string => n !== undefined && params.has(n));

  const dims = checkDims([...path, 'dims'], op.dims, listed, params, report);
  for (const d of dims) claim(d, `the dimension "${d}"`, [...path, 'dims', d]);
  inputs.forEach((x, i) => { const n = str(x.name); if (n) claim(n, `input "${n}"`, [...path, 'inputs', i, 'name']); });

  const opParams: string[] = [];
  list(op.params).forEach((p, i) => {
    const pname = opParamName(p);
    if (pname === undefined) return;
    const at: Path = typeof p === 'string' ? [...path, 'params', i] : [...path, 'params', i, 'name'];
    const def = params.get(pname);
    if (def === undefined) report(at, oneOf([...params.keys()]), pname);
    else if (opParams.includes(pname)) report(at, 'a param not listed before in this op', pname);
    else {
      // A dim bound to an int param may share its name: `k: { param: k }` is one value.
      if (!(dims.includes(pname) && isRecord(op.dims) && isRecord(op.dims[pname]) && op.dims[pname].param === pname)) claim(pname, `param "${pname}"`, at);
      if (isRecord(p)) checkParamUse([...path, 'params', i], p, pname, def, enumValues, report);
    }
    opParams.push(pname);
  });
  outputs.forEach((x, i) => { const n = str(x.name); if (n) claim(n, `output "${n}"`, [...path, 'outputs', i, 'name']); });
  residuals.forEach((x, i) => { const n = str(x.name); if (n) claim(n, `residual "${n}"`, [...path, 'residuals', i, 'name']); });
  // Derived backward arguments (see ir/normalise.ts) must not clash either.
  outputs.forEach((x, i) => {
    const n = str(x.name);
    if (n && outputDifferentiable(x)) claim(`cotangent_${n}`, `the cotangent of "${n}"`, [...path, 'outputs', i, 'name']);
  });
  inputs.forEach((x, i) => {
    const n = str(x.name);
    if (n && x.differentiable === true) claim(`grad_${n}`, `the gradient of "${n}"`, [...path, 'inputs', i, 'name']);
  });
  list(op.params).forEach((p, i) => {
    const pname = opParamName(p);
    if (pname !== undefined && params.get(pname)?.grad === true) claim(`grad_${pname}`, `the gradient of "${pname}"`, [...path, 'params', i]);
  });
  // The HVP's outputs: one per differentiable input and grad param.
  if (op.hvp === true) {
    inputs.forEach((x, i) => {
      const n = str(x.name);
      if (n && x.differentiable === true) claim(`hvp_${n}`, `the HVP of "${n}"`, [...path, 'inputs', i, 'name']);
    });
    list(op.params).forEach((p, i) => {
      const pname = opParamName(p);
      if (pname !== undefined && params.get(pname)?.grad === true) claim(`hvp_${pname}`, `the HVP of "${pname}"`, [...path, 'params', i]);
    });
  }
  // The JVP's arguments (the HVP takes the same tangents): a tangent of each differentiable input, grad param and differentiable output.
  if (op.jvp === true || op.hvp === true) {
    inputs.forEach((x, i) => {
      const n = str(x.name);
      if (n && x.differentiable === true) claim(`tangent_${n}`, `the tangent of "${n}"`, [...path, 'inputs', i, 'name']);
    });
    list(op.params).forEach((p, i) => {
      const pname = opParamName(p);
      if (pname !== undefined && params.get(pname)?.grad === true) claim(`tangent_${pname}`, `the tangent of "${pname}"`, [...path, 'params', i]);
    });
    // An output named like an input is reported above; its tangent's clash would be its echo.
    const inputNames = inputs.map((x) => str(x.name));
    outputs.forEach((x, i) => {
      const n = str(x.name);
      if (n && outputDifferentiable(x) && !inputNames.includes(n)) claim(`tangent_${n}`, `the tangent of "${n}"`, [...path, 'outputs', i, 'name']);
    });
  }

  // Shapes: every symbol after batch is n or a dim of the op (zod reports the rest).
  const known = ['n', ...dims];
  const sections: [string, Raw[]][] = [['inputs', inputs], ['outputs', outputs], ['residuals', residuals]];
  for (const [section, xs] of sections) {
    xs.forEach((x, i) => {
      list(x.shape).forEach((d, j) => {
        if (j > 0 && typeof d === 'string' && NAME_PATTERN.test(d) && d !== 'batch' && !known.includes(d)) {
          report([...path, section, i, 'shape', j], `a dimension of the op (${known.join(' | ')})`, d);
        }
      });
    });
  }
  // Each call reads n from its inputs, so a required one must have it.
  if (inputs.length > 0 && inputs.every((x) => Array.isArray(x.shape)) && !inputs.some((x) => x.optional !== true && list(x.shape).includes('n'))) {
    report([...path, 'inputs'], 'at least one required input with the dimension n (a call reads n from its inputs)', inputs.map((x) => x.shape));
  }

  inputs.forEach((x, i) => {
    const dtype = dtypeOf(x);
    if (dtype === 'real') return;
    if (x.differentiable === true) report([...path, 'inputs', i, 'differentiable'], `false for a ${dtype} input (only real inputs have gradients)`, true);
    if (x.constraint !== undefined) report([...path, 'inputs', i, 'constraint'], `no constraint on a ${dtype} input (constraints apply to real inputs)`, x.constraint);
  });
  outputs.forEach((x, i) => {
    if (dtypeOf(x) !== 'real' && x.differentiable === true) {
      report([...path, 'outputs', i, 'differentiable'], `false for a ${dtypeOf(x)} output (it has no cotangent)`, true);
    }
    if (x.indexes !== undefined && dtypeOf(x) !== 'int32') {
      report([...path, 'outputs', i, 'indexes'], `an int32 output (positions are integers), not ${dtypeOf(x)}`, x.indexes);
    }
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
    // Only a [batch, n] tensor can hold a [batch, n] gradient; malformed shapes are reported above.
    const wellFormed = (x: Raw) => list(x.shape).every((d, j) => (j === 0 ? d === 'batch' : typeof d === 'string' && known.includes(d)));
    const notItemRow = (x: Raw) => JSON.stringify(x.shape) !== JSON.stringify(['batch', 'n']);
    const differentiable = inputs.filter((x) => x.differentiable === true);
    const tensors = [...outputs, ...differentiable];
    if (tensors.every(wellFormed) && (outputs.length !== 1 || differentiable.length !== 1 || tensors.some(notItemRow))) {
      report(
        [...path, 'in_place_vjp'],
        'an op with exactly one output and one differentiable input, both of shape [batch, n] (the gradient takes the cotangent\'s place)',
        true,
      );
    }
  }

  if (isRecord(op.example)) checkExample([...path, 'example'], op.example, inputs, opParams, params, op.params, enumValues, report);
}

/** The op's own dims: names, and what each is bound to (an int param's value, a list param's length). */
function checkDims(path: Path, raw: unknown, listed: readonly string[], params: Map<string, Raw>, report: Report): string[] {
  const dims: string[] = [];
  const ofType = (type: string) => listed.filter((p) => params.get(p)?.type === type);
  const expected = (type: string) => {
    const names = ofType(type);
    return `a${type === 'int' ? 'n' : ''} ${type} param listed in the op's params (${names.length === 0 ? 'there are none' : names.join(' | ')})`;
  };
  for (const [name, def] of entries(raw)) {
    if (!NAME_PATTERN.test(name)) { report([...path, name], NAME_EXPECTED, name); continue; }
    if ((BUILTIN_DIMS as readonly string[]).includes(name)) { report([...path, name], 'a dimension other than batch and n (every op has those)', name); continue; }
    dims.push(name);
    if (!isRecord(def)) continue;
    const bound = str(def.param);
    if (bound !== undefined && !ofType('int').includes(bound)) report([...path, name, 'param'], expected('int'), bound);
    const lengthOf = str(def.length_of);
    if (lengthOf !== undefined && !ofType('list').includes(lengthOf)) report([...path, name, 'length_of'], expected('list'), lengthOf);
  }
  return dims.sort();
}

/** `{ name, enum, values, default }` in an op's params: narrows an enum param (or swaps its enum) for this op. */
function checkParamUse(path: Path, use: Raw, name: string, def: Raw, enumValues: Map<string, string[]>, report: Report): void {
  if (!PARAM_TYPES.includes(str(def.type) ?? '')) return; // zod reports the param's type
  if (def.type !== 'enum') {
    report(path, `the plain name ${name} (only enum params take enum, values and default here)`, use);
    return;
  }
  const own = str(use.enum);
  if (own !== undefined && !enumValues.has(own)) {
    report([...path, 'enum'], oneOf([...enumValues.keys()]), own);
    return;
  }
  const all = enumValues.get(own ?? str(def.enum) ?? '');
  if (all === undefined) return; // reported at the param
  const subset: string[] = [];
  list(use.values).forEach((v, i) => {
    if (typeof v !== 'string') return;
    if (!all.includes(v)) report([...path, 'values', i], `one of ${all.join(' | ')}`, v);
    else if (subset.includes(v)) report([...path, 'values', i], 'a value not listed before', v);
    else subset.push(v);
  });
  const accepted = Array.isArray(use.values) ? subset : all;
  if (accepted.length === 0) return;
  const ownDefault = str(use.default);
  if (ownDefault !== undefined && !accepted.includes(ownDefault)) report([...path, 'default'], `one of ${accepted.join(' | ')}`, ownDefault);
  const inherited = str(def.default);
  if (ownDefault === undefined && inherited !== undefined && !accepted.includes(inherited)) {
    report([...path, 'default'], `one of ${accepted.join(' | ')} (the param's default "${inherited}" is not among values)`, undefined);
  }
}

function checkExample(
  path: Path,
  example: Raw,
  inputs: readonly Raw[],
  opParams: readonly string[],
  params: Map<string, Raw>,
  uses: unknown,
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
  inputs.forEach((x) => {
    const name = str(x.name);
    if (name !== undefined && x.optional !== true && !(name in example)) report([...path, name], 'a value for every required input of the op', undefined);
  });
  const rowsOf = (x: Raw) => { const n = str(x.name); return n === undefined ? undefined : example[n]; };
  const withN = inputs.find((x) => list(x.shape).includes('n') && rowsOf(x) !== undefined);
  const firstRow = withN === undefined ? undefined : list(rowsOf(withN))[0];
  const exampleN = Array.isArray(firstRow) && firstRow.length > 0 ? firstRow.length : null;
  const given = example.params;
  if (given === undefined) return;
  if (!isRecord(given)) { report([...path, 'params'], 'a map from param name to value', given); return; }
  for (const [key, value] of Object.entries(given)) {
    const def = params.get(key);
    if (!opParams.includes(key) || def === undefined) { report([...path, 'params', key], oneOf(opParams), key); continue; }
    const at: Path = [...path, 'params', key];
    switch (def.type) {
      case 'real':
        if (typeof value !== 'number' || satisfies(value, str(def.constraint) ?? 'finite') === false) {
          report(at, describeConstraint(str(def.constraint) ?? 'finite'), value);
        }
        break;
      case 'bool':
        if (typeof value !== 'boolean') report(at, 'true or false', value);
        break;
      case 'enum': {
        const use = list(uses).find((u) => isRecord(u) && u.name === key);
        const narrowed = isRecord(use) && Array.isArray(use.values) ? use.values.filter((v): v is string => typeof v === 'string') : null;
        const swapped = isRecord(use) ? str(use.enum) : undefined;
        const values = narrowed ?? enumValues.get(swapped ?? str(def.enum) ?? '') ?? [];
        if (typeof value !== 'string' || !values.includes(value)) report(at, `one of ${values.join(' | ')}`, value);
        break;
      }
      case 'int': {
        // A bound of n is the example's row length (the rows of its first input that has n).
        const bound = (b: unknown) => (b === 'n' ? exampleN : intOrNull(b));
        const min = bound(def.min);
        const max = bound(def.max);
        if (typeof value !== 'number' || !Number.isInteger(value) || !inRange(value, min, max)) report(at, `an integer in ${describeRange(min, max)}`, value);
        break;
      }
      case 'list':
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'number')) report(at, 'a list of numbers', value);
        else checkListValue(at, value, def, report);
        break;
      default:
        break; // zod reports an unknown type
    }
  }
}
