// The docstring of a public function, from the spec's text, in each of the three flavours (NumPy,
// PyTorch, JAX): same sections, with the framework's words for arrays and gradients.
import { pythonApi, pythonName } from './names.ts';
import type { InputIR, OpIR, OutputIR, ParamIR, TensorIR } from '../../ir/types.ts';
import { pyDocstring, pyFloat, type DocSection } from '../../emit/python.ts';
import { isPerRow } from '../../ir/shape.ts';
import { hasMatrixOutput, optionalInputs, outputNote, requiredInputs, resultClass } from './layout.ts';
import { assertNever } from '../../util/never.ts';
import { pythonDefault, pythonDim, pythonEnumValue, pythonLiteral } from './names.ts';

export interface Flavour {
  /** `array`, `tensor` */
  readonly array: string;
  /** Said of the call as a whole (differentiability, devices). */
  readonly notes: readonly string[];
  /** Added to the doc of a differentiable real param (ε). */
  readonly paramGrad: string | null;
  /** Added to the doc of an input that receives no gradient. */
  readonly noGrad: string | null;
  /** The import and call of the example: `rank_relax.torch`, `torch.tensor`. */
  readonly module: string;
  readonly construct: string;
  /** The items-axis argument: `axis` (NumPy, JAX) or `dim` (torch). */
  readonly axis: 'axis' | 'dim';
}

/** `[..., n]`, `[..., n, n]`, `[..., len(quantiles)]`; `[...]` (one value per row). */
export function shapeText(t: TensorIR): string {
  if (isPerRow(t.shape)) return '``[...]`` (one value per row)';
  return `\`\`[..., ${t.shape.row.map(pythonDim).join(', ')}]\`\``;
}

function paramDoc(p: ParamIR, flavour: Flavour): string {
  switch (p.type) {
    case 'real':
      return `${p.doc} Default \`\`${pythonDefault(p)}\`\`.${p.grad && flavour.paramGrad ? ` ${flavour.paramGrad}` : ''}`;
    case 'enum':
      // An op that gives the param its own enum or values is described by that enum (the param's
      // text names the shared values).
      return `${p.narrowed ? p.enum.doc : p.doc} One of ${p.values.map((v) => `\`\`${pythonEnumValue(v)}\`\``).join(', ')}; default \`\`${pythonEnumValue(p.default)}\`\`.`;
    case 'bool':
      return `${p.doc} Default \`\`${pythonDefault(p)}\`\`.`;
    case 'int':
      return `${p.doc} An \`\`int\`\`; default \`\`${pythonDefault(p)}\`\`.`;
    case 'list':
      return `${p.doc} A sequence of floats (a list, a tuple, a 1-D array); default \`\`${pythonDefault(p)}\`\`.`;
    default:
      return assertNever(p, 'param type');
  }
}

function inputDoc(i: InputIR, flavour: Flavour): string {
  const grad = !i.differentiable && flavour.noGrad ? ` ${flavour.noGrad}` : '';
  const shape = i.elem === 'bool' ? `A bool ${flavour.array} of shape ${shapeText(i)}` : `Shape ${shapeText(i)}`;
  // An absent bool input is a mask with every item present.
  const absent = i.optional ? `; default \`\`None\`\`${i.elem === 'bool' ? ' (every item present)' : ''}` : '';
  return `${i.doc} ${shape}${absent}.${grad}`;
}

function example(op: OpIR, flavour: Flavour): string | null {
  if (op.example === null) return null;
  const args = [
    ...op.example.inputs.map((i) => {
      // An int32 input (group ids) as integers: its array gets the flavour's default integer dtype.
      const lit = op.inputs.find((x) => x.name.spec === i.name.spec)?.elem === 'int32' ? String : pyFloat;
      return `${flavour.construct}([${i.rows.map((r) => `[${r.map(lit).join(', ')}]`).join(', ')}])`;
    }),
    ...op.example.params
      .filter((p) => pythonLiteral(p.param, p.value) !== pythonDefault(p.param))
      .map((p) => `${pythonName(p.param.name)}=${pythonLiteral(p.param, p.value)}`),
  ];
  return `\`\`${flavour.module}.${pythonApi(op).fn}(${args.join(', ').replace(/,(?=\S)/g, ', ')})\`\``;
}

/** The doc of the items-axis argument, from the op's output shapes. */
export function axisDoc(op: OpIR): string {
  if (hasMatrixOutput(op)) {
    return (
      'The axis the items lie along; only the last (``-1``) is accepted: the output\'s two item dims ' +
      '``[..., n, n]`` have no unambiguous place elsewhere. Default ``-1``.'
    );
  }
  return (
    'The axis the items lie along in every input (negative counts from the end). The outputs have ' +
    'their item dim at that axis; a one-value-per-row output drops it. Default ``-1``, the last ' +
    'axis (no copy).'
  );
}

export const COMMON_NOTE =
  'Ranks along the last axis by default (the axis argument picks another): the other axes are ' +
  'independent rows, and a 1-D input is one row. ' +
  'float32 and float64 are computed as they are, float16 and bfloat16 in float32; results have the dtype of the input.';

/** `` (``mask``: a bool array)``, for an op with bool inputs. */
function boolNote(op: OpIR, flavour: Flavour): string {
  const bools = op.inputs.filter((i) => i.elem === 'bool').map((i) => `\`\`${pythonName(i.name)}\`\``);
  return bools.length === 0 ? '' : ` (${bools.join(', ')}: a bool ${flavour.array})`;
}

export function opDocstring(indent: number, op: OpIR, flavour: Flavour, returns: readonly OutputIR[]): string[] {
  const cls = resultClass(op);
  const sections: DocSection[] = [
    {
      title: 'Args',
      entries: [
        ...requiredInputs(op).map((i) => [pythonName(i.name), inputDoc(i, flavour)] as const),
        ...op.params.map((p) => [pythonName(p.name), paramDoc(p, flavour)] as const),
        [flavour.axis, axisDoc(op)] as const,
        ...optionalInputs(op).map((i) => [pythonName(i.name), inputDoc(i, flavour)] as const),
      ],
    },
    {
      title: 'Returns',
      entries: [
        ...(cls === null ? [] : [[null, `A \`\`${cls}\`\` named tuple:`] as const]),
        ...returns.map((o) => {
          const note = outputNote(o, flavour.array);
          return [null, `${returns.length > 1 ? `${pythonName(o.name)}: ` : ''}${o.doc} Shape ${shapeText(o)}.${note === '' ? '' : ` ${note}`}`] as const;
        }),
      ],
    },
    {
      title: 'Raises',
      entries: [
        ['TypeError', `An input is not a floating-point ${flavour.array}${boolNote(op, flavour)}, or a param has the wrong type.`],
        [
          'ValueError',
          'A NaN or infinite value, mismatched shapes, a 0-d input, a param or the axis out of range or an ' +
            'unknown enum value; the message names the op and the argument.',
        ],
      ],
    },
  ];
  const ex = example(op, flavour);
  if (ex !== null) sections.push({ title: 'Example', entries: [[null, ex]] });
  return pyDocstring(indent, op.summary, [op.doc, COMMON_NOTE, ...flavour.notes], sections);
}
