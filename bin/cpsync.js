#!/usr/bin/env node
// The `cpsync` command: runs cli/cli.ts through tsx, so no build step stands between a user and it.
// `serve-target NAME` of a built-in target is started once per node by a process-target campaign, and
// again at every restart: it takes a quicker road, a cached esbuild bundle of what it serves with
// (serve_bundle.js), or failing that tsx's in-thread CommonJS hooks and only those modules. Anything
// else (a module target, a name no target has, --help) goes the whole way, for the command line's
// messages.
import { createRequire } from 'node:module';

const [command, name, ...rest] = process.argv.slice(2);
if (command === 'serve-target' && name !== undefined && rest.length === 0) {
  const { loadServeBundle } = await import('./serve_bundle.js');
  const bundle = await loadServeBundle();
  if (bundle) {
    const target = bundle.builtInTarget(name);
    if (target) {
      bundle.serveTarget(target);
      process.exit(0);
    }
  } else {
    const require = createRequire(import.meta.url);
    const unregister = require('tsx/cjs/api').register();
    const target = require('../harness/targets.ts').builtInTarget(name);
    if (target) {
      require('../harness/serve_target.ts').serveTarget(target);
      process.exit(0);
    }
    unregister();
  }
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/cli.ts');
process.exit(await main(process.argv.slice(2)));
