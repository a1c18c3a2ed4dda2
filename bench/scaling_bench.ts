// Scaling figures for `npm run bench`: one campaign against the reference target (model in lockstep,
// swarm schedules) run on the worker pool of `cpsync check` with 1 thread, 2 threads and one per core,
// side by side. The runs are the same in each (the pool's result does not depend on its size), so
// the times compare like with like; they include starting the threads. Each row also gives the CPU
// time the process used (all its threads), which says how many cores the row kept busy: one worker
// already keeps more than one core busy with the engine's collector and compiler threads beside it.
// Every thread compiles the harness and the target afresh, and that warm-up is most of a short
// campaign's extra CPU time, so the campaign is long enough (1,500 runs) for the rows to show the
// steady state more than the warm-up.

import { availableParallelism } from 'node:os';
import { runCampaignPool, WHOLE } from '../cli/campaign_pool.ts';

export interface ScalingRow {
  readonly workers: number;
  /** 'all' for one thread per core. */
  readonly label: string;
  readonly runs: number;
  readonly seconds: number;
  readonly schedulesPerSecond: number;
  readonly stepsPerSecond: number;
  /** Wall-clock speed-up over one worker. */
  readonly speedup: number;
  /**
   * CPU seconds of the whole process (every thread: the workers, the main thread, the engine's own
   * garbage-collector and compiler threads) over the row: over `seconds`, the cores it kept busy.
   */
  readonly cpuSeconds: number;
  /** Observed steps the runs took: equal in every row, or the pool is not deterministic. */
  readonly observedSteps: number;
}

export async function measureScaling(runs = 1500): Promise<ScalingRow[]> {
  const cores = availableParallelism();
  const counts: [string, number][] = [
    ['1', 1],
    ['2', 2],
    [`all (${cores})`, cores],
  ];
  const job = { target: 'reference', seed: 99, maxSteps: 60, swarm: true, model: true, version: 'bench' };
  const rows: ScalingRow[] = [];
  for (const [label, workers] of counts) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const o = await runCampaignPool(job, { runs, seconds: null, shard: WHOLE, workers, hangMs: 600_000 });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    rows.push({
      workers,
      label,
      runs: o.share.runs,
      seconds,
      schedulesPerSecond: o.share.runs / seconds,
      stepsPerSecond: o.share.observedSteps / seconds,
      speedup: rows.length === 0 ? 1 : rows[0]!.seconds / seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      observedSteps: o.share.observedSteps,
    });
  }
  return rows;
}
