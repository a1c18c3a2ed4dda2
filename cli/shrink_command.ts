// `cpsync shrink FILE`: a saved counterexample shrunk again, with today's shrinker (harness/shrink.ts)
// and then a bounded search over the subsequences of what that leaves (harness/shortest_search.ts),
// keeping only schedules that fail the property the file records. Written back over FILE, or to
// `--out`. Counterexamples saved by an older cpsync, or found before the shrinker improved, get shorter
// this way. Exit codes: 0 written (shorter or not), 1 the file no longer fails the property it records
// (nothing written), 2 a usage error.

import { writeFileSync } from 'node:fs';
import { type Counterexample, LIVENESS_TICKS, toCounterexample } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { runSchedule } from '../harness/runner.ts';
import type { Schedule } from '../harness/schedule.ts';
import { shortestSubsequence } from '../harness/shortest_search.ts';
import { loadTarget } from '../harness/targets.ts';
import { UsageError } from './usage_error.ts';

export interface ShrinkCommandOptions {
  readonly out?: string;
  readonly model: boolean;
  readonly json: boolean;
}

export async function shrinkCommand(
  file: string,
  o: ShrinkCommandOptions,
  read: (file: string) => Counterexample,
  version: string,
): Promise<number> {
  const cx = read(file);
  const target = await loadTarget(cx.target);
  // The model runs in lockstep when it did in the run that found the counterexample.
  const lockstep = o.model && cx.lockstep !== false;
  const options = { runs: 1, seed: cx.seed, version, maxSteps: cx.schedule.actions.length, swarm: false };
  const campaign = lockstep ? { ...options, checkers: modelCheckers } : options;
  const fails = (s: Schedule): boolean =>
    runSchedule(target, s, {
      trace: false,
      livenessTicks: LIVENESS_TICKS,
      checkers: lockstep ? modelCheckers() : [],
    }).violation?.property === cx.property;
  const saved: Schedule = {
    config: cx.schedule.config,
    seed: cx.schedule.seed,
    actions: cx.schedule.actions,
  };
  if (!fails(saved)) {
    const line = `${file}: no longer fails ${cx.property}; nothing written`;
    if (o.json) console.log(JSON.stringify({ file, reproduces: false, property: cx.property }));
    else console.log(line);
    return 1;
  }
  const polished = toCounterexample(target, saved, cx.seed, cx.path, campaign);
  if (polished.property !== cx.property)
    throw new UsageError(
      `${file}: shrinking it failed ${polished.property}, not ${cx.property}: nothing written`,
    );
  const polishedSchedule: Schedule = {
    ...saved,
    config: polished.schedule.config,
    actions: polished.schedule.actions,
  };
  const search = shortestSubsequence(polishedSchedule, { fails });
  const final =
    search.schedule.actions.length < polished.schedule.actions.length
      ? toCounterexample(target, search.schedule, cx.seed, cx.path, { ...campaign, shrink: false })
      : polished;
  const out = o.out ?? file;
  writeFileSync(out, `${JSON.stringify(final, null, 2)}\n`);
  const figures = {
    file,
    out,
    property: final.property,
    before: cx.schedule.actions.length,
    after: final.schedule.actions.length,
    searchRuns: search.runs,
    exhaustive: search.exhaustive,
  };
  if (o.json) console.log(JSON.stringify({ ...figures, reproduces: true }));
  else
    console.log(
      `${out}: ${figures.before} -> ${figures.after} actions, still ${final.property} ` +
        `(subsequence search: ${search.runs} runs, ${search.exhaustive ? 'exhaustive' : 'budget spent'})`,
    );
  return 0;
}
