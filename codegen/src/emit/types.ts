import type { IR } from '../ir/types.ts';
import type { Capabilities } from './capabilities.ts';
import type { ErrorCause } from './error-cases.ts';

/** One file an emitter produces: a repository-relative POSIX path and its complete text. */
export interface GeneratedFile {
  readonly path: string;
  readonly contents: string;
}

/**
 * A target. `emit` is pure (no I/O, no clock, no environment): the same IR gives the same files.
 * `owns` lists the repository-relative paths the emitter is responsible for: a path ending in `/`
 * is a folder (every file under it is generated, and a file there that is no longer emitted is an
 * orphan the writer removes); any other path is one file.
 */
export interface Emitter {
  readonly name: string;
  readonly description: string;
  readonly owns: readonly string[];
  /**
   * What of the spec model it can bind. `checkCapabilities` holds every spec against every
   * registered emitter before any runs, so `emit` only ever sees IR within these.
   */
  readonly capabilities: Capabilities;
  emit(ir: IR): readonly GeneratedFile[];
  /**
   * What the API reference (the docs emitter) says of this target, in the target's own words: the
   * docs emitter lays out its pages from these and spells nothing of the language itself.
   */
  describe?(ir: IR): TargetDocs;
}

/** One op as a target's reference shows it. */
export interface OpDocs {
  /** The op's main function: `soft_rank`, `softRank`. */
  readonly fn: string;
  /** Every public name of the op, for the names table: one row per flavour of the API (`NumPy`, `PyTorch`, …). */
  readonly names: readonly { readonly label: string; readonly names: readonly string[] }[];
  /** Each param of the op (in `op.params` order) as the language passes it with its default, a Markdown table cell: `` `regularization = :l2` ``. */
  readonly params: readonly string[];
  /** The op's sections of "Signatures and examples", Markdown from the first `###` heading on. */
  readonly section: string;
  /** Each tensor (inputs, outputs, residuals; by spec name) as this API holds it, a Markdown table cell. */
  readonly shapes: Readonly<Record<string, string>>;
  /** A runnable program that raises every error of the op's errors table and checks each message. */
  readonly errorCheck?: { readonly label: string; readonly markdown: string };
}

/** What one target says of its API for the reference. */
export interface TargetDocs {
  /** The language, as the index's columns name it: `Julia`, `Python`. */
  readonly language: string;
  /** The column title on an op's page: `Julia`, `NumPy / PyTorch / JAX`. */
  readonly column: string;
  /** The column title of the shapes table: `Julia (column = sample)`. */
  readonly shapesColumn: string;
  /** Each floating dtype (by id: `f64`) as the API names it, Markdown: `` Julia `Float64` ``. */
  readonly dtypes: Readonly<Record<string, string>>;
  /** The index's bullet on how the API takes arrays, Markdown (may span lines). */
  readonly overview: string;
  /** Bullets after an op's errors table on how this API reports errors, Markdown (`- C returns …`). */
  readonly errorNotes?: readonly string[];
  /** A note after each enum value in an op's param docs, by enum and value spec name (`` C `RR_REGULARIZATION_L2` ``). */
  readonly enumNotes?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Sections the target adds at the end of the index (`## The C library`), Markdown from the `##` heading on. */
  readonly indexSections?: readonly string[];
  /** Where the names come from: `RankRelax`. */
  readonly module: string;
  /** By op spec name. */
  readonly ops: Readonly<Record<string, OpDocs>>;
  /** The error type the API raises for each cause (`ValueError`); none where errors are status codes (C). */
  readonly errorTypes?: Readonly<Record<ErrorCause, string>>;
  /** Every enum value as the API takes it, by enum and value spec name, a Markdown table cell: `` `:l2` ``. */
  readonly enumValues: Readonly<Record<string, Readonly<Record<string, string>>>>;
}
