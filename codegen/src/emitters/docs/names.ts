// The modules and packages the reference names: where each binding's public names (the IR's
// `op.api`) are imported from.

/** Python modules: the NumPy API and the two framework modules. */
export const PY_MODULES = { numpy: 'rank_relax', torch: 'rank_relax.torch', jax: 'rank_relax.jax' } as const;
export type PyFlavour = keyof typeof PY_MODULES;

/** The Node package. */
export const NODE_PACKAGE = '@rank-relax/node';
/** The Node option holding the row length (every op has it). */
export const NODE_ROW_OPTION = 'n';
