// The zod schema of bindings-spec/rank-relax.yaml. `Spec` is what the loader returns after
// validation. Cross-references (a param's enum, an op's params and saves, name clashes) are checked
// by references.ts on the same input in the same run, so every error of a spec is reported at once.
import { z } from 'zod';

/** snake_case, and never the `rr_` prefix that generated helpers reserve. */
export const NAME_PATTERN = /^(?!rr_)[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
export const NAME_EXPECTED = 'a snake_case name not starting with "rr_"';

const name = z
  .string()
  .regex(NAME_PATTERN, { error: NAME_EXPECTED })
  .meta({ description: 'snake_case identifier; the generator derives every target spelling from it.' });

const doc = z.string().min(1).meta({ description: 'Doc text (Markdown: `code` spans), rendered in every language.' });

/** A strict record: an unknown key is an error that lists the known ones. Custom messages in this
 * folder are the "expected …" phrase only; `errors.ts` adds the path and what was found. */
function record<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape).sort().join(' | ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `only the keys ${known}`
        : undefined,
  });
}

/** The dims every op has: `batch` leads every shape, `n` is the length of the inputs' rows. */
export const BUILTIN_DIMS = ['batch', 'n'] as const;

export const Shape = z
  .array(z.string().regex(NAME_PATTERN, { error: 'a dimension symbol (snake_case)' }))
  .refine((dims) => dims[0] === 'batch' && !dims.slice(1).includes('batch'), {
    error: 'a list of dimensions with batch first and only there: [batch], [batch, n], [batch, n, n], …',
  })
  .meta({
    description:
      'Shape in dimension symbols, row-major, `batch` first: [batch] (one value per row), [batch, n] (one row of the ' +
      "op's n items), any rank and any dim of the op: [batch, n, n], [batch, k]. Besides batch and n, a symbol must be " +
      'declared under the op\'s `dims`. The buffer holds batch × (product of the other dims) elements.',
  });

export const DimDef = record({
  param: name.optional().meta({ description: 'The value of an `int` param of the op: `k: { param: k }`.' }),
  length_of: name.optional().meta({ description: 'The length of a `list` param of the op: `m: { length_of: quantiles }`.' }),
})
  .refine((d) => (d.param === undefined) !== (d.length_of === undefined), { error: 'exactly one of the keys length_of | param' })
  .meta({ description: 'A dimension symbol bound to a param of the op: its value (`param`) or its length (`length_of`).' });

/** Element type of an input. */
export const InputDtype = z.enum(['real', 'bool', 'int32']).meta({
  description: '`real` is the op dtype (float32 or float64); `bool` a mask; `int32` a 32-bit signed integer. Default real.',
});
/** Element type of an output or a residual. */
export const ElemType = z.enum(['real', 'int32']).meta({
  description: '`real` is the op dtype (float32 or float64); `int32` a 32-bit signed integer.',
});

export const Constraint = z.enum(['finite', 'positive', 'nonnegative']).meta({
  description: 'Checked by the core: finite (default), finite and > 0, finite and ≥ 0.',
});

export const Package = record({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, { error: 'a kebab-case package name' }),
  version: z.string().regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, { error: 'a semantic version such as 1.2.3' }),
  abi_version: z.int().min(1).meta({ description: 'Bumped on every incompatible change of the C ABI.' }),
  description: doc,
});

export const EnumValue = record({ name, doc });
export const EnumDef = record({
  doc,
  values: z.array(EnumValue).min(1).meta({ description: 'Ordered: the value at index i has code i.' }),
});

const RealParam = record({
  type: z.literal('real'),
  default: z.number(),
  constraint: Constraint.optional(),
  grad: z.boolean().optional().meta({ description: 'Whether the backward returns a gradient (one value per row).' }),
  doc,
});
const EnumParam = record({
  type: z.literal('enum'),
  enum: name.meta({ description: 'Name of an entry of `enums`.' }),
  default: z.string(),
  doc,
});
const BoolParam = record({ type: z.literal('bool'), default: z.boolean(), doc });

const IntBound = z
  .union([z.int(), z.string()])
  .meta({ description: 'An integer, or the dimension `n` (the bound then holds per call: `max: n` means k ≤ n).' });
const IntParam = record({
  type: z.literal('int'),
  default: z.int(),
  min: IntBound.optional().meta({ description: 'Inclusive lower bound: an integer or `n`.' }),
  max: IntBound.optional().meta({ description: 'Inclusive upper bound: an integer or `n`.' }),
  doc,
});
const ListParam = record({
  type: z.literal('list'),
  of: z.literal('real').meta({ description: 'Element type: `real` (the op dtype).' }),
  default: z.array(z.number()).meta({ description: 'At least `min_length` elements, each within [min, max].' }),
  min_length: z.int().min(1).optional().meta({ description: 'Fewest elements (default 1).' }),
  min: z.number().optional().meta({ description: 'Inclusive lower bound of every element (elements are always finite).' }),
  max: z.number().optional().meta({ description: 'Inclusive upper bound of every element.' }),
  doc,
});
export const ParamDef = z.discriminatedUnion('type', [RealParam, EnumParam, BoolParam, IntParam, ListParam]);
/** Every param `type`, as the union above lists them. */
export const PARAM_TYPES: readonly string[] = ParamDef.options.map((o) => o.shape.type.value);

/** An op's use of a param: its name, or for an enum param the subset of values and the default this op has. */
export const OpParam = z
  .union([
    z.string(),
    record({
      name,
      enum: name.optional().meta({
        description: "Another enum for this op's values of the param (a top-level `enums` name); its codes are that enum's.",
      }),
      values: z.array(z.string()).min(1).optional().meta({ description: 'The enum values this op accepts (a subset, any order).' }),
      default: z.string().optional().meta({ description: "This op's default (one of `values`)." }),
    }),
  ])
  .meta({
    description: 'A name from the top-level `params`, or `{ name, enum, values, default }` to narrow an enum param (or give it another enum) for this op.',
  });

export const Input = record({
  name,
  shape: Shape,
  dtype: InputDtype.optional(),
  differentiable: z.boolean().meta({ description: 'Gets a gradient; only real inputs can.' }),
  optional: z.boolean().optional().meta({ description: 'May be omitted by the caller (absent by default; default false).' }),
  constraint: Constraint.optional(),
  doc,
});
export const Output = record({
  name,
  shape: Shape,
  dtype: ElemType.optional(),
  differentiable: z
    .boolean()
    .optional()
    .meta({ description: 'Has a cotangent in the backward (default: true for real outputs; int32 outputs never do).' }),
  indexes: z
    .literal('n')
    .optional()
    .meta({
      description:
        'An int32 output whose values are positions along the dim `n` (0-based in the core, −1 for none); ' +
        'a target whose arrays count from 1 (Julia) returns them plus 1.',
    }),
  doc,
});
export const Residual = record({ name, dtype: ElemType, shape: Shape, doc });

export const Op = record({
  summary: z.string().min(1).meta({ description: 'One line.' }),
  doc,
  min_n: z.int().min(1).optional().meta({ description: 'Fewest items per row the op accepts (default 1).' }),
  dims: z
    .record(z.string(), DimDef)
    .optional()
    .meta({ description: 'Dimension symbols of this op besides batch and n, each bound to a param: `{ k: { param: k }, m: { length_of: quantiles } }`.' }),
  inputs: z.array(Input).min(1),
  params: z.array(OpParam).meta({ description: 'Params from the top-level `params`, in argument order.' }),
  outputs: z.array(Output).min(1),
  residuals: z.array(Residual),
  saves: z.array(z.string()).meta({ description: 'Inputs and outputs (by name) the backward receives, in order.' }),
  in_place_vjp: z
    .boolean()
    .optional()
    .meta({
      description:
        'The core has `<op>::backward_in_place`, which writes the gradient over the cotangent; the C ABI then accepts ' +
        'the gradient buffer being the cotangent buffer. Needs exactly one output and one differentiable input, both [batch, n].',
    }),
  jvp: z
    .boolean()
    .optional()
    .meta({
      description:
        'The core has `<op>::jvp`, the forward-mode derivative: it receives the saves, the residuals, one tangent per ' +
        'differentiable input and one scalar tangent per param with grad, and writes one tangent per differentiable output.',
    }),
  hvp: z
    .boolean()
    .optional()
    .meta({
      description:
        'The core has `<op>::hvp`, the derivative of the backward at a fixed cotangent: it receives what the backward ' +
        'does, then the JVP\'s tangents, and writes `hvp_<input>` per differentiable input and `hvp_<param>` per row ' +
        'per param with grad (the Hessian of ⟨cotangent, output⟩ applied to the tangents).',
    }),
  example: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: 'A small call for the docs: input name → rows, and `params` → values.' }),
});

export const Message = record({
  kind: z.enum(['InvalidType', 'InvalidArgument', 'InvalidValue', 'ShapeMismatch']).meta({
    description: 'The kind of error it is (testdata/bad-input.json); each binding raises its own error type for it.',
  }),
  doc,
  text: z.string().min(1).meta({ description: 'The text, with `{placeholders}` each binding fills in.' }),
});

export const Messages = record({
  checks: z.record(z.string(), Message).meta({
    description: 'The checks a binding makes before the core, by the name its runtime calls them.',
  }),
  values: z.record(z.string(), record({ doc, text: z.string().min(1) })).meta({
    description: 'The words that describe an offending value (`{got}`), by the name its runtime calls them.',
  }),
}).meta({
  description:
    "What a binding says when it refuses a call before the core: every binding builds these texts from this table, " +
    'so a bad call reads the same in every language. Names and placeholders are fixed by the runtimes; wording is free.',
});

const SpecRecord = record({
  package: Package,
  enums: z.record(z.string(), EnumDef),
  params: z.record(z.string(), ParamDef),
  ops: z.record(z.string(), Op),
  messages: Messages,
});

export type Spec = z.infer<typeof SpecRecord>;

/** The shape of a spec. Cross-references are checked by `checkReferences` (see validate.ts). */
export const Spec = SpecRecord.meta({
  title: 'rank-relax bindings spec',
  description: 'Every rank-relax operation; every binding is generated from it by rank-relax-codegen.',
});

export type SpecOp = z.infer<typeof Op>;
export type SpecParam = z.infer<typeof ParamDef>;
export type SpecEnum = z.infer<typeof EnumDef>;
export type SpecShape = z.infer<typeof Shape>;
export type SpecOpParam = z.infer<typeof OpParam>;
export type SpecElemType = z.infer<typeof ElemType>;
export type SpecConstraint = z.infer<typeof Constraint>;
