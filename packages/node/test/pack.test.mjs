// `pnpm pack` gives a tarball that installs offline into a fresh project (npm install file.tgz)
// and works there through require and import.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PACKAGE_DIR } from './helpers.mjs';

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('the packed tarball', () => {
  let dir;
  let tarball;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rank-relax-pack-'));
    run('pnpm', ['pack', '--pack-destination', dir], PACKAGE_DIR);
    tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'pnpm pack wrote a .tgz');
    const project = join(dir, 'consumer');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), '{ "name": "consumer", "version": "1.0.0", "private": true }\n');
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, tarball)], project);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the build, the addon, the README and nothing else', () => {
    const files = run('tar', ['-tzf', join(dir, tarball)], dir).trim().split('\n').sort();
    assert.ok(files.includes('package/package.json'));
    assert.ok(files.includes('package/README.md'));
    assert.ok(files.includes('package/dist/index.js'));
    assert.ok(files.includes('package/dist/index.mjs'));
    assert.ok(files.includes('package/dist/index.d.ts'));
    assert.ok(files.includes('package/dist/index.d.mts'));
    assert.ok(files.some((f) => /^package\/rank-relax\.[\w-]+\.node$/.test(f)), 'the addon');
    assert.deepEqual(files.filter((f) => /\/(src|test|bench|scripts)\//.test(f)), []);
  });

  it('works through require', () => {
    const out = run(process.execPath, ['-e', "const rr = require('@rank-relax/node'); console.log(Array.from(rr.softRank(new Float64Array([3, 1, 2]), { regularizationStrength: 0.01 })).join(','))"], join(dir, 'consumer'));
    assert.equal(out.trim(), '3,1,2');
  });

  it('works through import', () => {
    const out = run(process.execPath, ['--input-type=module', '-e', "import { spearmanLoss, softSortAsync } from '@rank-relax/node'; console.log(spearmanLoss(new Float32Array([1, 2, 3]), new Float32Array([3, 2, 1]), { regularizationStrength: 0.01 })[0], (await softSortAsync(new Float64Array([2, 1]), { regularizationStrength: 0.01 })).join(','))"], join(dir, 'consumer'));
    assert.equal(out.trim(), '2 1,2');
  });
});
