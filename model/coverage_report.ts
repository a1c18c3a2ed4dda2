// `npm run model:coverage`: generates the model paths, replays them on the statechart, runs them on
// the reference implementation (harness/model_paths.ts) for the "realised on the reference" column,
// prints the coverage table and writes it to reports/model-coverage.md and reports/model-coverage.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathSummaryTable, runModelPath, summarisePathRuns } from '../harness/model_paths.ts';
import { builtInTarget } from '../harness/targets.ts';
import { coverageJson, coverageMarkdown, measureCoverage, unreached, withRealised } from './coverage.ts';
import { MODES, modeGraph } from './paths.ts';

const REPORTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'reports');

function main(): void {
  const graphs = MODES.map(modeGraph);
  const paths = graphs.flatMap((g) => [...g.statePaths, ...g.transitionPaths]);
  // Deterministic like the rest: a fixed world seed, a perfect link, the same paths every time.
  const runs = paths.map((p) => runModelPath(builtInTarget('reference')!, p));
  const realisedPrefixes = runs.map((r) => ({ ...r.path, steps: r.path.steps.slice(0, r.stepsRealised) }));
  const coverage = withRealised(measureCoverage(paths), measureCoverage(realisedPrefixes));
  const intro = graphs.map(
    (g) =>
      `- ${g.mode}: ${g.stateCount} graph states; ${g.statePaths.length} shortest paths to them ` +
      `(prefixes of longer ones dropped) and ${g.transitionPaths.length} transition-cover paths.`,
  );
  const onReference = [
    'On the reference implementation (model/paths_reference.test.ts; a path is realised when the target',
    'showed every step, in order, letting time pass for the steps it does on its own):',
    '',
    pathSummaryTable(summarisePathRuns(runs)),
  ];
  const markdown = coverageMarkdown(coverage, [...intro, '', ...onReference, '']);
  mkdirSync(REPORTS, { recursive: true });
  writeFileSync(join(REPORTS, 'model-coverage.md'), markdown);
  writeFileSync(join(REPORTS, 'model-coverage.json'), coverageJson(coverage));
  console.log(markdown);
  const missing = unreached(coverage);
  if (missing.length > 0) {
    console.error(`unreached: ${missing.map((r) => r.id).join(', ')}`);
    process.exitCode = 1;
  }
  const violations = runs.filter((r) => r.violation).length;
  if (violations > 0) {
    console.error(`${violations} paths break the refinement on the reference`);
    process.exitCode = 1;
  }
}

main();
