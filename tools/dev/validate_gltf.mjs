#!/usr/bin/env node
// Validate a .glb / .gltf file with the Khronos glTF validator and print its report as JSON.
//
//   node tools/dev/validate_gltf.mjs FILE        -> the report on stdout; exit 0 when it has no errors,
//                                               1 when it has errors, 2 when FILE cannot be read,
//                                               3 when the validator package is not installed.
//   node tools/dev/validate_gltf.mjs --version   -> the validator's version
//
// The `gltf-validator` npm package is looked up in $STYLIZE_GLTF_VALIDATOR (a package folder),
// then in .ci/node (where .ci/run installs it:
//   npm install --prefix .ci/node --no-save gltf-validator@2.0.0-dev.3.10),
// then by node's usual resolution. External buffers and images of a .gltf are read relative to it.
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const candidates = [
  process.env.STYLIZE_GLTF_VALIDATOR,
  path.join(here, '..', '..', '.ci', 'node', 'node_modules', 'gltf-validator'),
  'gltf-validator',
].filter(Boolean);

function loadValidator() {
  const require = createRequire(import.meta.url);
  for (const candidate of candidates) {
    try {
      return require(candidate);
    } catch (error) {
      if (error.code !== 'MODULE_NOT_FOUND') throw error;
    }
  }
  return null;
}

const validator = loadValidator();
if (validator === null) {
  console.error('gltf-validator is not installed: npm install --prefix .ci/node --no-save gltf-validator@2.0.0-dev.3.10');
  process.exit(3);
}
const file = process.argv[2];
if (file === '--version') {
  console.log(validator.version());
  process.exit(0);
}
if (!file) {
  console.error('usage: node tools/dev/validate_gltf.mjs FILE.glb|FILE.gltf');
  process.exit(2);
}
let bytes;
try {
  bytes = new Uint8Array(await readFile(file));
} catch (error) {
  console.error(`${file}: ${error.message}`);
  process.exit(2);
}
const folder = path.dirname(path.resolve(file));
const report = await validator.validateBytes(bytes, {
  uri: path.basename(file),
  maxIssues: 0,
  writeTimestamp: false,
  externalResourceFunction: (uri) =>
    readFile(path.resolve(folder, decodeURIComponent(uri))).then((data) => new Uint8Array(data)),
});
console.log(JSON.stringify(report, null, 1));
process.exit(report.issues.numErrors > 0 ? 1 : 0);
