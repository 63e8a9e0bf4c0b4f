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

export const Dim = z.enum(['batch', 'n']);
export const Shape = z
  .array(Dim)
  .refine((dims) => dims.length >= 1 && dims.length <= 2 && dims[0] === 'batch' && (dims.length === 1 || dims[1] === 'n'), {
    error: 'one of [batch, n] | [batch]',
  })
  .meta({ description: 'Shape in symbols: [batch, n] (one row per sample) or [batch] (one value per row).' });

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
export const ParamDef = z.discriminatedUnion('type', [RealParam, EnumParam, BoolParam]);

export const Input = record({
  name,
  shape: Shape,
  differentiable: z.boolean(),
  constraint: Constraint.optional(),
  doc,
});
export const Output = record({ name, shape: Shape, doc });
export const Residual = record({ name, dtype: ElemType, shape: Shape, doc });

export const Op = record({
  summary: z.string().min(1).meta({ description: 'One line.' }),
  doc,
  min_n: z.int().min(1).optional().meta({ description: 'Fewest items per row the op accepts (default 1).' }),
  inputs: z.array(Input).min(1),
  params: z.array(z.string()).meta({ description: 'Names from the top-level `params`, in argument order.' }),
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
  example: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: 'A small call for the docs: input name → rows, and `params` → values.' }),
});

const SpecRecord = record({
  package: Package,
  enums: z.record(z.string(), EnumDef),
  params: z.record(z.string(), ParamDef),
  ops: z.record(z.string(), Op),
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
export type SpecElemType = z.infer<typeof ElemType>;
export type SpecConstraint = z.infer<typeof Constraint>;
