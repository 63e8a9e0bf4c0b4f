// Builds dist/: tsc compiles src/ to CommonJS (dist/*.js + .d.ts); then the ESM entry
// dist/index.mjs re-exports the CommonJS build by name (one instance of the addon for both module
// systems), with dist/index.d.mts for its types. The addon must be built first (build:native):
// the export names are read from the loaded package.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

const names = Object.keys(require(join(root, 'dist', 'index.js'))).filter((k) => k !== '__esModule').sort();
const header = '// ESM entry of @rank-relax/node: the CommonJS build, re-exported by name (built by scripts/build.mjs).\n';
writeFileSync(
  join(root, 'dist', 'index.mjs'),
  `${header}import cjs from './index.js';\n\nexport const {\n${names.map((n) => `  ${n},`).join('\n')}\n} = cjs;\n`,
);
writeFileSync(join(root, 'dist', 'index.d.mts'), `${header}export * from './index.js';\n`);
console.log(`build: dist/ with ${names.length} exports (CommonJS + ESM)`);
