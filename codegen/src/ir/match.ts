// Exhaustive case analysis over the model's unions, for the expression positions where emitters
// used to chain ternaries: every case must be given, so a new param type or dtype fails to compile
// until each call site handles it (an unsupported one with `unsupported(…)` from emit/capabilities.ts).
import { assertNever } from '../util/never.ts';
import type { ElemType, ParamIR, ParamType, ParamValue } from './types.ts';

export type ParamCases<R> = { readonly [K in ParamType]: (p: Extract<ParamIR, { type: K }>) => R };

export function matchParam<R>(p: ParamIR, cases: ParamCases<R>): R {
  switch (p.type) {
    case 'real':
      return cases.real(p);
    case 'enum':
      return cases.enum(p);
    case 'bool':
      return cases.bool(p);
    case 'int':
      return cases.int(p);
    case 'list':
      return cases.list(p);
    default:
      return assertNever(p, 'param type');
  }
}

/** A param's default as a value (an enum value by its spec name). */
export function defaultValue(p: ParamIR): ParamValue {
  return p.type === 'enum' ? p.default.name.spec : p.default;
}

export type ElemCases<R> = { readonly [K in ElemType]: () => R };

export function matchElem<R>(elem: ElemType, cases: ElemCases<R>): R {
  switch (elem) {
    case 'real':
      return cases.real();
    case 'int32':
      return cases.int32();
    case 'bool':
      return cases.bool();
    default:
      return assertNever(elem, 'element type');
  }
}
