// Exhaustiveness: every `switch` over a union of the spec model (param types, dtypes, dim kinds,
// argument roles) ends in `default: return assertNever(x)`, so a new member fails to compile
// until every emitter handles it.

/** Unreachable for well-typed input; throws if a value outside the union gets here at run time. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(x)}`);
}
