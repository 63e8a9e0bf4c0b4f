// include/rank_relax.h: the C API, with the spec's doc text as Doxygen comments.
import { code, file } from '../../emit/code.ts';
import { banner, commentLines } from '../../emit/text.ts';
import type { EnumIR, IR, OpIR, RuntimeFnIR, StatusIR, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import { cPrototype, direction, findVariant, paramNote } from './decl.ts';
import { matchElem } from '../../ir/match.ts';
import { extent, isItemRow, isPerRow } from '../../ir/shape.ts';
import { cDim, cEnumConstant, cListLength, cName, cType } from './names.ts';
import { assertNever } from '../../util/never.ts';

const WIDTH = 100;

function docBlock(paragraphs: readonly (string | readonly string[])[]): string {
  const lines: string[] = ['/**'];
  paragraphs.forEach((p, i) => {
    if (i > 0) lines.push(' *');
    if (typeof p === 'string') lines.push(...commentLines(p, ' * ', WIDTH));
    else lines.push(...p);
  });
  lines.push(' */');
  return lines.join('\n');
}

/** `[batch, n]`; a shape of other dims with its extent: `[batch, m] (batch * quantiles_len elements)`. */
function shapeText(arg: VariantArgIR & { kind: 'buffer' }): string {
  if (isPerRow(arg.shape) || isItemRow(arg.shape)) return arg.shape.text;
  return `${arg.shape.text} (${extent(arg.shape, cDim)} elements)`;
}

/** `@param[in] name text`, wrapped with a hanging indent. */
function docParam(dir: string, name: string, text: string): string[] {
  const head = `@param${dir} ${name} `;
  const [first = '', ...rest] = commentLines(text, '', WIDTH - 3 - head.length);
  const body = rest.join(' ');
  const hanging = commentLines(body, ' *     ', WIDTH);
  return [` * ${head}${first}`, ...(body === '' ? [] : hanging)];
}

/** What an optional buffer's NULL means, and the element contract of a bool buffer. */
function optionalNote(arg: VariantArgIR & { kind: 'buffer' }): string {
  const isBool = arg.elem === 'bool';
  if (!arg.optional) return isBool ? ' Each element is 0 (false) or 1 (true).' : '';
  const count = isPerRow(arg.shape) ? 'batch' : isItemRow(arg.shape) ? 'batch * n' : extent(arg.shape, cDim);
  const absent = isBool ? 'May be NULL, which is the same as every element true' : 'May be NULL (absent)';
  return ` ${absent}; otherwise ${count} elements${isBool ? ', each 0 (false) or 1 (true)' : ''}.`;
}

/** `@param[in] values [batch, n] Values to rank …`; a list param also gets a line for its length. */
function paramLine(arg: VariantArgIR): string[] {
  let text = arg.doc;
  if (arg.kind === 'buffer') {
    const elem = matchElem(arg.elem, { real: () => '', int32: () => ' int32', bool: () => ' bool' });
    text = `${shapeText(arg)}${elem}${arg.optional ? ', optional' : ''}: ${text}${optionalNote(arg)}`;
  }
  if (arg.kind === 'param') text = `${text} ${paramNote(arg.param)}`;
  const lines = docParam(direction(arg), cName(arg.name), text);
  if (arg.kind === 'param' && arg.param.type === 'list') {
    lines.push(...docParam(direction(arg), cListLength(arg.param.name.spec), `Number of values in ${cName(arg.name)}.`));
  }
  return lines;
}

/** The paragraph on masks: optional bool inputs of shape [batch, n], if the spec has any. */
function masksParagraph(ir: IR): string[] {
  const names = [...new Set(ir.ops.flatMap((op) => op.inputs.filter((x) => x.optional && x.elem === 'bool' && isItemRow(x.shape)).map((x) => cName(x.name))))];
  if (names.length === 0) return [];
  const args = names.map((name) => `\`const bool *${name}\``).join(', ');
  return [
    `Masks: an optional ${args} ([batch, n], stdbool.h, each element 0 or 1) is an input of a ` +
      'forward and a save of the other kernels. NULL is the call without a mask (every item present). ' +
      'With a mask, each row is computed as if it held only its present (true) items, in their order: the absent ' +
      'ones are never read (NaN or infinite padding is fine) and get output 0 and gradient 0; outputs in sorted ' +
      'order hold the present items first and zeros after. Pass the backward, JVP and HVP the mask of the forward.',
  ];
}

/** The paragraph on outputs of item positions (`indexes`), if the spec has any. */
function indexesParagraph(ir: IR): string[] {
  const names = [...new Set(ir.ops.flatMap((op) => op.outputs.filter((x) => x.indexes).map((x) => cName(x.name))))];
  if (names.length === 0) return [];
  return [
    `Positions: an int32_t output of item positions (${names.map((x) => `\`${x}\``).join(', ')}) holds 0-based positions in ` +
      "the caller's row, and -1 where there is no item (past a masked row's present items).",
  ];
}

function renderPrelude(ir: IR): string {
  return code`
    ${banner(ir, 'c-block')}
    ${docBlock([
      [` * @file ${ir.native.header}`, ` * @brief C API of ${ir.package.name} ${ir.package.version}.`],
      ir.package.description,
      `Link with -l${ir.native.libName} (lib${ir.native.libName}.so, .dylib or .a; ${ir.native.libName}.dll).`,
      'Every kernel is `int32_t rr_<op>_<forward|backward|jvp|hvp>_<f32|f64>(...)` and takes, in this order:',
      [
        ' * 1. `size_t batch, size_t n`: the shape. Buffers are flat and row-major: a [batch, n] buffer',
        ' *    holds batch * n elements (row i starts at element i * n); a [batch] buffer holds batch.',
        " *    A buffer of other dims gives its extent in its doc: [batch, n, n] holds batch * n * n;",
        ' *    a dim that is an int param\'s value ([batch, k]) sizes no buffer unless that value is in',
        " *    the param's range (a value out of it is an error).",
        " * 2. The op's params in spec order: real params as float (f32) or double (f64), enum params as",
        ' *    int32_t codes (RR_<ENUM>_<VALUE>), bool params as bool, int params as int64_t, list',
        ' *    params as a pointer and a length (`const double *quantiles, size_t quantiles_len`; the',
        ' *    values are copied, and the pointer may be NULL only when the length is 0).',
        ' * 3. The buffers. forward: the inputs (const), the outputs, the residuals. backward: the saves',
        ' *    (forward inputs/outputs, const), the residuals (const), one cotangent per differentiable',
        ' *    output (const), one gradient per differentiable input, then one value per row for each',
        ' *    param that has a gradient. jvp (forward mode): the saves and the residuals as the',
        ' *    backward, one tangent per differentiable input (const), one scalar tangent (float or',
        ' *    double) per param that has a gradient, then one tangent per differentiable output. An',
        ' *    int32_t output has neither a cotangent nor a tangent. hvp (second order): the backward\'s',
        ' *    saves, residuals and cotangents, the JVP\'s tangents, then one buffer per differentiable',
        ' *    input and one value per row for each param that has a gradient (the derivative of each',
        ' *    gradient).',
      ],
      'A kernel returns RR_OK (0) or an RR_ERR_* status, and then rr_last_error() gives the message. ' +
        'A pointer may be NULL only when its buffer has no elements or is optional; buffers must be aligned for their ' +
        'type, and a written buffer must not overlap any other buffer of the call (buffers that are only read may ' +
        'share memory). The library cannot see how long a buffer is: each pointer must be valid for the ' +
        'elements its shape gives. Kernels are thread-safe; rows are processed in parallel inside a call.',
      ...masksParagraph(ir),
      ...indexesParagraph(ir),
    ])}
    #ifndef RANK_RELAX_H
    #define RANK_RELAX_H

    #include <stdbool.h>
    #include <stddef.h>
    #include <stdint.h>

    #ifdef __cplusplus
    extern "C" {
    #endif

    /** Version of the library this header belongs to. */
    #define RR_VERSION "${ir.package.version}"
    /** ABI version; rr_abi_version() of a compatible library returns the same. */
    #define RR_ABI_VERSION ${ir.package.abiVersion}
    /** Hash of this ABI (signatures, enum and status codes); see rr_abi_hash(). */
    #define RR_ABI_HASH UINT64_C(${ir.package.abiHash})
  `;
}

/** `/** text *\/` on one line when it fits, else a block. */
function shortDoc(text: string): string {
  const line = `/** ${text} */`;
  return line.length <= WIDTH ? line : docBlock([text]);
}

function renderStatus(status: readonly StatusIR[]): string {
  return code`
    /* Status codes returned by every kernel. */

    ${status.map((s) => code`
      ${shortDoc(s.doc)}
      #define ${s.c} ${s.code}
    `)}
  `;
}

function renderEnum(e: EnumIR): string {
  return code`
    /* ${e.name.spec}: ${e.doc} */

    ${e.values.map((v) => code`
      ${shortDoc(`${e.name.spec} = "${v.name.spec}": ${v.doc}`)}
      #define ${cEnumConstant(e, v)} ${v.code}
    `)}
  `;
}

function renderRuntimeFn(fn: RuntimeFnIR): string {
  const args = fn.args.length === 0 ? 'void' : fn.args.map((a) => `${cType(a.type)} ${cName(a.name)}`).join(', ');
  const returns = cType(fn.returns).endsWith('*') ? cType(fn.returns) : `${cType(fn.returns)} `;
  return code`
    ${docBlock([fn.doc])}
    ${returns}${fn.cSymbol}(${args});
  `;
}

/** ` (indices has none: it is not differentiable)` for the outputs without a cotangent, else nothing. */
function withoutCotangent(op: OpIR): string {
  const none = op.outputs.filter((x) => !x.differentiable).map((x) => cName(x.name));
  if (none.length === 0) return '';
  return ` (${none.join(' and ')} ${none.length === 1 ? 'has' : 'have'} none: not differentiable)`;
}

function kernelIntro(op: OpIR, kernel: VariantKernelIR): string[] {
  const forward = kernel.cSymbol.replace(`_${kernel.pass}_`, '_forward_');
  switch (kernel.pass) {
    case 'forward':
      return [`${op.name.spec}: ${op.summary}`, op.doc];
    case 'backward':
      return [
        `Backward (vector-Jacobian product) of ${op.name.spec}: from the cotangents of the outputs${withoutCotangent(op)}, ` +
          'writes the gradient of each differentiable input and, per row, of each param that has a ' +
          `gradient. Takes the saves and residuals of the matching ${forward} call.`,
      ];
    case 'jvp':
      return [
        `Forward-mode derivative (Jacobian-vector product) of ${op.name.spec}: from a tangent of each ` +
          'differentiable input and one scalar tangent of each param that has a gradient, writes the tangent ' +
          `of each differentiable output. Takes the saves and residuals of the matching ${forward} call; ` +
          'the tangents may not overlap a written buffer.',
      ];
    case 'hvp':
      return [
        `Second-order kernel (Hessian-vector product) of ${op.name.spec}: the derivative of what the matching ` +
          `${kernel.cSymbol.replace('_hvp_', '_backward_')} writes, at the same cotangents, along a tangent of each ` +
          'differentiable input and one scalar tangent of each param that has a gradient: the Hessian of ' +
          '<cotangent, output> applied to the tangents. Takes the saves and residuals of the matching ' +
          `${forward} call.`,
      ];
    default:
      return assertNever(kernel.pass, 'pass');
  }
}

function kernelDoc(op: OpIR, kernel: VariantKernelIR): string {
  const intro = kernelIntro(op, kernel);
  const inPlace = kernel.pass === 'backward' ? op.inPlaceVjp : null;
  return docBlock([
    ...intro,
    ...(inPlace === null
      ? []
      : [
          `${cName(inPlace.grad)} may be ${cName(inPlace.cotangent)} itself: the gradient is then written over the cotangent ` +
            '(one [batch, n] buffer less at the peak of a forward + backward, the same result). Any other overlap ' +
            'of a written buffer is an error.',
        ]),
    kernel.args.flatMap(paramLine),
    '@return RR_OK, or an RR_ERR_* status (the message is in rr_last_error()).',
  ]);
}

function renderOp(op: OpIR): string {
  const f64 = findVariant(op, 'f64');
  const f32 = findVariant(op, 'f32');
  const single = (k: VariantKernelIR, of: VariantKernelIR) =>
    docBlock([`As ${of.cSymbol}, in single precision: float buffers and real params.`]) + '\n' + cPrototype(k);
  return code`
    /* ${'-'.repeat(WIDTH - 6)} */
    /* ${op.name.spec} */

    ${kernelDoc(op, f64.forward)}
    ${cPrototype(f64.forward)}

    ${single(f32.forward, f64.forward)}

    ${kernelDoc(op, f64.backward)}
    ${cPrototype(f64.backward)}

    ${single(f32.backward, f64.backward)}
    ${[[f64.jvp, f32.jvp], [f64.hvp, f32.hvp]].map(([d, f]) => (d === null || d === undefined || f === null || f === undefined ? '' : `\n${kernelDoc(op, d)}\n${cPrototype(d)}\n\n${single(f, d)}`)).join('')}
  `;
}

export function renderHeader(ir: IR): string {
  return file(
    renderPrelude(ir),
    '',
    renderStatus(ir.status),
    '',
    ...ir.enums.flatMap((e) => [renderEnum(e), '']),
    '/* Library */',
    '',
    ...Object.values(ir.runtime).flatMap((fn) => [renderRuntimeFn(fn), '']),
    ...ir.ops.flatMap((op) => [renderOp(op), '']),
    code`
      #ifdef __cplusplus
      } /* extern "C" */
      #endif

      #endif /* RANK_RELAX_H */
    `,
  );
}
