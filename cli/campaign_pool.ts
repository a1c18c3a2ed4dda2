// Runs a campaign's numbered runs (harness/campaign_share.ts) on a pool of worker threads (tinypool),
// watched: the runs are dealt out slice by slice in seed order, the first failing run in seed order is
// shrunk once every run before it is known to pass, and a target that stops making progress for the
// hang timeout ends the campaign with TargetHang instead of hanging it. The verdict, the counterexample
// and the counted runs do not depend on how many threads ran them. Only the CLI and the benchmarks use
// this: it reads the clock (time budgets, the watchdog).

import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Tinypool } from 'tinypool';
import { type CampaignCoverage, combineCoverage } from '../harness/campaign_coverage.ts';
import {
  combineShares,
  emptyShare,
  type ShareResult,
  type ShrunkRun,
  SLICE_RUNS,
  sliceRange,
} from '../harness/campaign_share.ts';
import { TargetLoadError } from '../harness/targets.ts';
import type { CampaignJob, Heartbeat, PoolTask, TaskOutcome, TaskRequest } from './campaign_task.ts';

/** The target made no progress for the allowed time: it hangs (or one schedule is that slow). */
export class TargetHang extends Error {
  override readonly name = 'TargetHang';
}

/** The part of the seed space this process runs: slices s with s mod count = index (0-based). */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export const WHOLE: Shard = { index: 0, count: 1 };

export interface PoolPlan {
  /** Runs of the whole campaign (a shard runs its part of them); Infinity to run until `seconds`. */
  readonly runs: number;
  /** Stop dealing out slices after this many seconds (null: no time budget). */
  readonly seconds: number | null;
  readonly shard: Shard;
  /** Threads (at most one per slice the campaign has). */
  readonly workers: number;
  readonly hangMs: number;
}

export interface PoolOutcome {
  /** The runs that count, combined: every run of the shard up to the budget, or up to the first failure. */
  readonly share: ShareResult;
  /** Run indices below this bound were run (those of this shard): `--runs runsBound` runs them again. */
  readonly runsBound: number;
  /** The time budget ended the campaign (no failure, runs left). */
  readonly timedOut: boolean;
  readonly workers: number;
  /** Wall-clock seconds until the verdict (the shrink excluded). */
  readonly campaignSeconds: number;
  readonly shrunk?: ShrunkRun & { readonly seconds: number };
  /** What the counted runs covered, when the job asked for it. */
  readonly coverage?: CampaignCoverage;
}

/** The default thread count: the cores this process may use. */
export function defaultWorkers(): number {
  return availableParallelism();
}

const ENTRY = new URL('../bin/pool_worker.js', import.meta.url).href;
/** Allowance for a new thread to load tsx, the harness and the target before its first heartbeat. */
const BOOT_ALLOWANCE_MS = 30_000;

/** The j-th slice of the shard. */
function sliceOf(shard: Shard, j: number): number {
  return shard.index + j * shard.count;
}

/** Slices of the shard below `runs` (Infinity for a time budget). */
function slicesIn(shard: Shard, runs: number): number {
  if (!Number.isFinite(runs)) return Number.POSITIVE_INFINITY;
  const all = Math.ceil(runs / SLICE_RUNS);
  return Math.max(0, Math.ceil((all - shard.index) / shard.count));
}

/** Runs of the shard among the campaign's first `runs` (Infinity for a time budget). */
export function shardRuns(shard: Shard, runs: number): number {
  if (!Number.isFinite(runs)) return Number.POSITIVE_INFINITY;
  let n = 0;
  const slices = slicesIn(shard, runs);
  // Every slice of the shard is full but perhaps the campaign's last.
  if (slices > 0) n = (slices - 1) * SLICE_RUNS + sliceRange(sliceOf(shard, slices - 1), runs).count;
  return n;
}

/**
 * Runs the campaign `job` per `plan`; `onProgress(runs, observedSteps)` after every schedule (shrink
 * attempts excluded). Rejects with TargetHang or TargetLoadError.
 */
export async function runCampaignPool(
  job: CampaignJob,
  plan: PoolPlan,
  onProgress: (runs: number, observedSteps: number) => void = () => {},
): Promise<PoolOutcome> {
  const slices = slicesIn(plan.shard, plan.runs);
  const workers = Math.max(1, Math.min(plan.workers, slices));
  const pool = new Tinypool({ filename: ENTRY, minThreads: workers, maxThreads: workers });
  try {
    return await new Campaign(pool, job, plan, slices, workers, onProgress).run();
  } finally {
    await pool.destroy();
  }
}

class Campaign {
  private readonly started = performance.now();
  private readonly deadline: number;
  private readonly done = new Map<number, ShareResult>();
  private readonly covered = new Map<number, CampaignCoverage>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Slices whose watchdog fired, not yet judged: a hang counts only where a single thread would meet it. */
  private readonly hung = new Map<number, TargetHang>();
  private next = 0;
  /** Slices 0 .. prefix-1 are all back. */
  private prefix = 0;
  private inFlight = 0;
  /** The earliest slice (index j in the shard) known to hold a failure. */
  private failedSlice: number | null = null;
  private timedOut = false;
  private runsSeen = 0;
  private stepsSeen = 0;
  private settle: ((e: Error | null) => void) | null = null;

  constructor(
    private readonly pool: Tinypool,
    private readonly job: CampaignJob,
    private readonly plan: PoolPlan,
    private readonly slices: number,
    private readonly workers: number,
    private readonly onProgress: (runs: number, observedSteps: number) => void,
  ) {
    this.deadline = plan.seconds === null ? Number.POSITIVE_INFINITY : this.started + plan.seconds * 1000;
  }

  async run(): Promise<PoolOutcome> {
    try {
      await new Promise<void>((resolve, reject) => {
        this.settle = (e) => (e ? reject(e) : resolve());
        this.dispatch();
      });
    } finally {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
    }
    const counted = this.failedSlice ?? this.next - 1;
    let share = emptyShare(0);
    let coverage: CampaignCoverage | undefined;
    for (let j = 0; j <= counted; j++) {
      share = combineShares(share, this.done.get(j)!);
      const c = this.covered.get(j);
      if (c) coverage = coverage ? combineCoverage(coverage, c) : c;
    }
    const campaignSeconds = (performance.now() - this.started) / 1000;
    const last = sliceRange(sliceOf(this.plan.shard, counted), this.plan.runs);
    const base = {
      share,
      runsBound: share.failure !== null ? share.failure + 1 : counted < 0 ? 0 : last.from + last.count,
      timedOut: this.timedOut && share.failure === null,
      workers: this.workers,
      campaignSeconds,
      ...(coverage ? { coverage } : {}),
    };
    if (share.failure === null) return base;
    const shrinkStarted = performance.now();
    const shrunk = await this.shrink(share.failure);
    return { ...base, shrunk: { ...shrunk, seconds: (performance.now() - shrinkStarted) / 1000 } };
  }

  /** Deals out slices while threads are free and the campaign is not decided. */
  private dispatch(): void {
    while (this.inFlight < this.workers) {
      if (this.next >= this.slices) break;
      if (this.failedSlice !== null && this.next > this.failedSlice) break;
      if (performance.now() >= this.deadline) {
        this.timedOut = true;
        break;
      }
      this.launch(this.next++);
    }
    if (this.decided()) this.settle?.(null);
  }

  /** Every slice that counts is back: those before the first failure (and its own), or all dealt out. */
  private decided(): boolean {
    const upTo = this.failedSlice ?? this.next - 1;
    const dealing = this.failedSlice === null && this.next < this.slices && !this.timedOut;
    return !dealing && this.prefix > upTo;
  }

  private launch(j: number): void {
    const { from, count } = sliceRange(sliceOf(this.plan.shard, j), this.plan.runs);
    this.inFlight++;
    const onRan = (h: Extract<Heartbeat, { type: 'ran' }>) => {
      this.runsSeen++;
      this.stepsSeen += h.observedSteps;
      this.onProgress(this.runsSeen, this.stepsSeen);
    };
    this.task({ kind: 'share', job: this.job, from, count }, from, onRan, { slice: j }).then(
      (outcome) => {
        this.inFlight--;
        if (outcome.kind !== 'share')
          return this.settle?.(new Error(`a share task answered ${outcome.kind}`));
        this.done.set(j, outcome.share);
        while (this.done.has(this.prefix)) this.prefix++;
        if (outcome.coverage) this.covered.set(j, outcome.coverage);
        if (outcome.share.failure !== null && (this.failedSlice === null || j < this.failedSlice))
          this.failedSlice = j;
        if (this.judgeHangs()) return;
        this.dispatch();
      },
      (e: Error) => {
        // A slice after the first failure does not count, and neither does how it ended.
        if (this.failedSlice === null || j <= this.failedSlice) this.settle?.(e);
      },
    );
  }

  private async shrink(run: number): Promise<ShrunkRun> {
    const outcome = await new Promise<TaskOutcome>((resolve, reject) => {
      this.settle = (e) => e && reject(e);
      this.task({ kind: 'shrink', job: this.job, run }, run, () => {}, { shrinking: run }).then(
        resolve,
        reject,
      );
    });
    if (outcome.kind !== 'shrunk') throw new Error(`a shrink task answered ${outcome.kind}`);
    return outcome.shrunk;
  }

  /**
   * Runs one task on the pool with its own heartbeat port and watchdog. `first` is the first run it
   * runs; `what` its slice, or the failing run it shrinks (the watchdog's message says which).
   */
  private task(
    task: TaskRequest,
    first: number,
    onRan: (h: Extract<Heartbeat, { type: 'ran' }>) => void,
    what: { readonly slice: number } | { readonly shrinking: number },
  ): Promise<TaskOutcome> {
    const { port1, port2 } = new MessageChannel();
    let lastRun = first - 1;
    let attempts = 0;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number) => {
      if (timer) {
        clearTimeout(timer);
        this.timers.delete(timer);
      }
      timer = setTimeout(() => {
        const hang = this.hang(lastRun + 1, 'shrinking' in what ? what.shrinking : undefined, attempts);
        if (!('slice' in what)) return this.settle?.(hang);
        this.hung.set(what.slice, hang);
        this.judgeHangs();
      }, ms);
      this.timers.add(timer);
    };
    arm(this.plan.hangMs + BOOT_ALLOWANCE_MS);
    port1.on('message', (h: Heartbeat) => {
      if (h.type === 'ran') {
        lastRun = h.run;
        attempts++;
        onRan(h);
      }
      arm(this.plan.hangMs);
    });
    const full: PoolTask = { ...task, port: port2 };
    // Ended either way (answered, or its thread terminated): no watchdog and no port outlive the task.
    const ended = () => {
      if (timer) {
        clearTimeout(timer);
        this.timers.delete(timer);
      }
      port1.close();
    };
    return (this.pool.run(full, { transferList: [port2] }) as Promise<TaskOutcome>).then(
      (outcome) => {
        ended();
        if (outcome.kind === 'error')
          throw outcome.loadError ? new TargetLoadError(outcome.message) : new Error(outcome.message);
        return outcome;
      },
      (e: unknown) => {
        ended();
        throw e instanceof Error ? e : new Error(String(e));
      },
    );
  }

  /**
   * A slice that hangs ends the campaign once every slice before it is back without a failure: one
   * thread would have met the hang there too. After an earlier failure it does not count. True when
   * the campaign was ended.
   */
  private judgeHangs(): boolean {
    const first = Math.min(...this.hung.keys());
    if (!Number.isFinite(first) || this.prefix < first) return false;
    if (this.failedSlice !== null && this.failedSlice < first) return false;
    this.settle?.(this.hung.get(first)!);
    return true;
  }

  private hang(run: number, shrinking: number | undefined, attempts: number): TargetHang {
    const s = this.plan.hangMs / 1000;
    const where =
      shrinking === undefined
        ? `in schedule ${run + 1}`
        : `while shrinking the failure of schedule ${shrinking + 1} (shrink attempt ${Math.max(1, attempts)})`;
    return new TargetHang(
      `target '${this.job.target}' made no progress for ${s} s ${where} (campaign seed ${this.job.seed}): it hangs, or one schedule takes longer than --hang-timeout`,
    );
  }
}
