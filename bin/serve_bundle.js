// A quick start for `cpsync serve-target NAME` of a built-in target, which a process-target campaign
// starts once per node and again at every restart: the harness's TypeScript, bundled by esbuild into
// one JavaScript file and cached, starts in about a third of the CPU time tsx takes to load it module
// by module. The cache sits in node_modules/.cache/cpsync (the operating system's temporary directory
// if that cannot be written) beside a manifest of every file the bundle was built from, with its size
// and modification time: any change, or another esbuild or Node, builds it again. Nothing here is
// on a path a schedule drives: it runs once, before the node reads its first request.
//
// Fault model: a cache that is missing, half written, stale or unwritable costs a rebuild or the slow
// road (null), never a wrong program; a concurrent start builds its own copy and renames it into place.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = `import { builtInTarget } from ${JSON.stringify(join(ROOT, 'harness', 'targets.ts'))};
import { serveTarget } from ${JSON.stringify(join(ROOT, 'harness', 'serve_target.ts'))};
export { builtInTarget, serveTarget };
`;

/** The bundle's exports ({ builtInTarget, serveTarget }), or null: then the caller takes tsx's road. */
export async function loadServeBundle() {
  const require = createRequire(import.meta.url);
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch {
    return null;
  }
  // Per checkout too: two working trees may share one node_modules (a symlink, a workspace).
  const tree = createHash('sha256').update(ROOT).digest('hex').slice(0, 12);
  const key = `${tree}-${esbuild.version}-${process.version}`;
  for (const dir of [join(ROOT, 'node_modules', '.cache', 'cpsync'), join(tmpdir(), 'cpsync-cache')]) {
    const bundle = join(dir, `serve-target-${key}.mjs`);
    const manifest = `${bundle}.inputs.json`;
    if (!fresh(manifest)) {
      try {
        build(esbuild, dir, bundle, manifest);
      } catch {
        continue; // Unwritable, or the build failed: the next place, then the slow road.
      }
    }
    try {
      return await import(bundle);
    } catch {
      // A bundle that does not load is rebuilt at the next start (its manifest goes first).
      try {
        writeFileSync(manifest, '{}');
      } catch {}
    }
  }
  return null;
}

/** Does the manifest name every input with the size and time it has now? */
function fresh(manifest) {
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(manifest, 'utf8')).inputs;
  } catch {
    return false;
  }
  if (!inputs || Object.keys(inputs).length === 0) return false;
  for (const [file, [size, mtimeMs]] of Object.entries(inputs)) {
    try {
      const s = statSync(file);
      if (s.size !== size || s.mtimeMs !== mtimeMs) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function build(esbuild, dir, bundle, manifest) {
  mkdirSync(dir, { recursive: true });
  const inputs = {};
  const started = Date.now();
  const result = esbuild.buildSync({
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: 'serve-target-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // CommonJS dependencies bundled into ESM call require(): give them one.
    banner: {
      js: "import { createRequire as __cpsyncRequire } from 'node:module'; const require = __cpsyncRequire(import.meta.url);",
    },
  });
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input.startsWith('<stdin>') || input === 'serve-target-entry.ts') continue;
    const file = resolve(ROOT, input);
    const s = statSync(file);
    inputs[file] = [s.size, s.mtimeMs];
    // Edited while esbuild read it: the bundle may hold either version, so no manifest vouches for it.
    if (s.mtimeMs >= started - 1000) inputs[file] = [-1, 0];
  }
  const unique = `${process.pid}`;
  writeFileSync(`${bundle}.${unique}`, result.outputFiles[0].contents);
  renameSync(`${bundle}.${unique}`, bundle);
  writeFileSync(`${manifest}.${unique}`, JSON.stringify({ inputs }));
  renameSync(`${manifest}.${unique}`, manifest);
}
