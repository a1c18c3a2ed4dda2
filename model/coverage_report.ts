// `npm run model:coverage`: generates the model paths, replays them on the statechart, prints the
// coverage table and writes it to reports/model-coverage.md and reports/model-coverage.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coverageJson, coverageMarkdown, measureCoverage, unreached } from './coverage.ts';
import { MODES, modeGraph } from './paths.ts';

const REPORTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'reports');

function main(): void {
  const graphs = MODES.map(modeGraph);
  const paths = graphs.flatMap((g) => [...g.statePaths, ...g.transitionPaths]);
  const coverage = measureCoverage(paths);
  const intro = graphs.map(
    (g) =>
      `- ${g.mode}: ${g.stateCount} graph states; ${g.statePaths.length} shortest paths to them ` +
      `(prefixes of longer ones dropped) and ${g.transitionPaths.length} transition-cover paths.`,
  );
  const markdown = coverageMarkdown(coverage, [...intro, '']);
  mkdirSync(REPORTS, { recursive: true });
  writeFileSync(join(REPORTS, 'model-coverage.md'), markdown);
  writeFileSync(join(REPORTS, 'model-coverage.json'), coverageJson(coverage));
  console.log(markdown);
  const missing = unreached(coverage);
  if (missing.length > 0) {
    console.error(`unreached: ${missing.map((r) => r.id).join(', ')}`);
    process.exitCode = 1;
  }
}

main();
