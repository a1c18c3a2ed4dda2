// What checking costs, for `npm run bench`: the same swarm schedules against the reference target,
// run fully checked (the model in lockstep, every property and obligation) and then by the target
// alone (the world steps the same executed actions; no history, no properties, no model), in one run,
// chunk by chunk of 10 schedules, so that both sides meet the same load of the machine.
//
// The target-alone run replays what the checked run executed, tick by tick as the runner steps it,
// with the liveness phase's healing (perfect links, aimed faults forgotten, pauses ended, power cuts
// disarmed) at the same point; it must end at the same tick, or it did not run the same schedule and
// the figures are refused.

import fc from 'fast-check';
import { LIVENESS_TICKS } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { runSchedule } from '../harness/runner.ts';
import { type Schedule, scheduleArb, specOf } from '../harness/schedule.ts';
import { PERFECT_LINK } from '../harness/sim_network.ts';
import type { ConformanceTarget } from '../harness/target.ts';
import { builtInTarget } from '../harness/targets.ts';
import { World, type WorldAction } from '../harness/world.ts';

export interface CheckingCost {
  readonly runs: number;
  /** Lockstep steps (every action, and every tick of a `tick N`) in the checked runs. */
  readonly steps: number;
  readonly checkedSeconds: number;
  readonly aloneSeconds: number;
  readonly checkedStepsPerSecond: number;
  readonly aloneStepsPerSecond: number;
  /** Checked time over target-alone time: 1 would mean checking costs nothing. */
  readonly ratio: number;
}

interface Executed {
  readonly schedule: Schedule;
  readonly actions: readonly WorldAction[];
  readonly safetySteps: number;
  readonly ticks: number;
  readonly steps: number;
}

export function measureCheckingCost(runs = 200, seed = 99): CheckingCost {
  const target = builtInTarget('reference')!;
  // The schedules `cpsync check --seed 99 --swarm` draws first, drawn before any clock starts.
  const schedules = fc.sample(scheduleArb({ maxSteps: 60, swarm: true }), { seed, numRuns: runs });
  // Both ways once on the first schedules, untimed: each is then timed with the JIT warm.
  const warm = schedules.slice(0, WARM_UP_RUNS).map((s) => checked(target, s));
  for (const e of warm) runAlone(target, e);
  // Interleaved in chunks: each chunk is run checked, then alone, so a change in the machine's load
  // (seen to move a single figure by a third) moves both sides alike, and the ratio stays put.
  let steps = 0;
  let checkedMs = 0;
  let aloneMs = 0;
  for (let from = 0; from < schedules.length; from += CHUNK_RUNS) {
    const chunk = schedules.slice(from, from + CHUNK_RUNS);
    let started = performance.now();
    const executed = chunk.map((schedule) => checked(target, schedule));
    checkedMs += performance.now() - started;
    started = performance.now();
    const alone = executed.map((e) => runAlone(target, e));
    aloneMs += performance.now() - started;
    alone.forEach((world, i) => {
      if (world.now !== executed[i]!.ticks)
        throw new Error(
          `checking cost: run ${from + i} alone ended at tick ${world.now}, checked at ${executed[i]!.ticks}`,
        );
    });
    for (const e of executed) steps += e.steps;
  }
  const checkedSeconds = checkedMs / 1000;
  const aloneSeconds = aloneMs / 1000;
  return {
    runs,
    steps,
    checkedSeconds,
    aloneSeconds,
    checkedStepsPerSecond: steps / checkedSeconds,
    aloneStepsPerSecond: steps / aloneSeconds,
    ratio: checkedSeconds / aloneSeconds,
  };
}

const WARM_UP_RUNS = 20;
/** Schedules per chunk of the interleaved timing. */
const CHUNK_RUNS = 10;
const ONE_TICK: WorldAction = { kind: 'tick', ticks: 1 };

/** One schedule fully checked, as a campaign runs it: the model in lockstep, every property. */
function checked(target: ConformanceTarget, schedule: Schedule): Executed {
  const r = runSchedule(target, schedule, { livenessTicks: LIVENESS_TICKS, checkers: modelCheckers() });
  if (!r.ok) throw new Error(`checking cost: the reference failed ${r.violation?.property}`);
  return {
    schedule,
    actions: r.executed,
    safetySteps: r.safetySteps,
    ticks: r.ticks,
    steps: r.observedSteps,
  };
}

/** The executed actions on a fresh world, as harness/runner.ts steps them, with nothing observed. */
function runAlone(target: ConformanceTarget, e: Executed): World {
  const { config, seed } = e.schedule;
  const world = new World({
    spec: specOf(config),
    target,
    seed,
    trace: false,
    ...(config.linkFaults ? { linkFaults: config.linkFaults } : {}),
  });
  // The liveness phase heals links first (heal, speed-up actions), then the world's own faults.
  let healAt = e.safetySteps;
  while (healAt < e.actions.length && ['heal', 'speed-up'].includes(e.actions[healAt]!.kind)) healAt++;
  e.actions.forEach((action, i) => {
    if (i === healAt) heal(world);
    if (action.kind === 'tick') for (let t = 0; t < action.ticks; t++) world.step(ONE_TICK);
    else world.step(action);
  });
  if (healAt === e.actions.length) heal(world);
  return world;
}

function heal(w: World): void {
  for (const s of w.spec.sources) w.network.configureLink(s.id, 'dst', PERFECT_LINK);
  w.network.clearAimed();
  w.resumeAll();
  for (const node of w.nodes) w.media[node]!.power.disarm();
}
