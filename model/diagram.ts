// `npm run diagram`: writes the statechart, generated from the machine itself, as Mermaid text to
// reports/statechart.mmd and as SVG to reports/statechart.svg (DOT rendered by Graphviz in WebAssembly).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { instance } from '@viz-js/viz';
import { toDot, toMermaid } from './chart_text.ts';

const REPORTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'reports');

async function main(): Promise<void> {
  const viz = await instance();
  const result = viz.render(toDot(), { format: 'svg', engine: 'dot' });
  if (result.status !== 'success') throw new Error(result.errors.map((e) => e.message).join('\n'));
  mkdirSync(REPORTS, { recursive: true });
  writeFileSync(join(REPORTS, 'statechart.mmd'), toMermaid());
  writeFileSync(join(REPORTS, 'statechart.svg'), result.output);
  for (const e of result.errors) console.warn(`graphviz ${e.level ?? 'warning'}: ${e.message}`);
  console.log(`wrote ${join('reports', 'statechart.mmd')} and ${join('reports', 'statechart.svg')}`);
}

await main();
