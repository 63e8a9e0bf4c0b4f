// The public names each binding gives an op, as the reference shows them. Every one is an IR
// ident (or C symbol) composed the way that binding's emitter composes it; an emitter may not
// import another, so test/docs.test.ts checks that each name here is defined in the files the
// other emitters generate, and fails when one of them renames something.
import type { OpIR } from '../../ir/types.ts';

/** Python modules: the NumPy API and the two framework modules. */
export const PY_MODULES = { numpy: 'rank_relax', torch: 'rank_relax.torch', jax: 'rank_relax.jax' } as const;
export type PyFlavour = keyof typeof PY_MODULES;

/** The Julia package and the Node package. */
export const JULIA_MODULE = 'RankRelax';
export const NODE_PACKAGE = '@rank-relax/node';
/** The Node option holding the row length (every op has it). */
export const NODE_ROW_OPTION = 'n';

export interface PythonNames {
  readonly fn: string;
  /** NumPy only: the vector-Jacobian product. */
  readonly vjp: string;
}

export function pythonNames(op: OpIR): PythonNames {
  return { fn: op.name.python, vjp: `${op.name.python}_vjp` };
}

export interface JuliaNames {
  readonly fn: string;
  readonly forward: string;
  readonly pullback: string;
  readonly forwardInto: string;
  readonly pullbackInto: string;
  readonly tape: string;
}

export function juliaNames(op: OpIR): JuliaNames {
  return {
    fn: op.name.julia,
    forward: `${op.name.snake}_forward`,
    pullback: `${op.name.snake}_pullback`,
    forwardInto: `${op.name.snake}_forward!`,
    pullbackInto: `${op.name.snake}_pullback!`,
    tape: `${op.name.pascal}Tape`,
  };
}

export interface NodeNames {
  readonly fn: string;
  readonly fnAsync: string;
  readonly vjp: string;
  readonly vjpAsync: string;
  readonly withVjp: string;
  readonly options: string;
  readonly gradients: string;
}

export function nodeNames(op: OpIR): NodeNames {
  return {
    fn: op.name.ts,
    fnAsync: `${op.name.camel}Async`,
    vjp: `${op.name.camel}Vjp`,
    vjpAsync: `${op.name.camel}VjpAsync`,
    withVjp: `${op.name.camel}WithVjp`,
    options: `${op.name.pascal}Options`,
    gradients: `${op.name.pascal}Gradients`,
  };
}
