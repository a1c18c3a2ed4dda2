#!/usr/bin/env node
// The `cpsync` command: runs cli/cli.ts through tsx, so no build step stands between a user and it.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/cli.ts');
process.exit(await main(process.argv.slice(2)));
