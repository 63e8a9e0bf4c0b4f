#!/usr/bin/env node
// CLI entry: runs the TypeScript sources through tsx (no build step before `generate`).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
