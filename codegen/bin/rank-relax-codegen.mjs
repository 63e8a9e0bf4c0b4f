#!/usr/bin/env node
// CLI entry: runs the TypeScript sources through tsx (no build step before `generate`).
import { register } from 'tsx/esm/api';

// `rank-relax-codegen ir | head` closes the pipe early; that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
