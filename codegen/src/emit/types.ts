import type { IR } from '../ir/types.ts';
import type { Capabilities } from './capabilities.ts';

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
}
