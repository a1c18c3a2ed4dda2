// What one thread of the campaign pool (cli/campaign_pool.ts) does when handed a task: run a slice of
// a campaign's numbered runs, or shrink one failing run. A heartbeat goes back on the task's port after
// every schedule, so that the pool can tell a target that hangs from one that is slow. The thread loads
// the target itself (a target is code, and code does not cross threads) and keeps it for later tasks.

import type { MessagePort } from 'node:worker_threads';
import { type CampaignCoverage, CoverageCollector } from '../harness/campaign_coverage.ts';
import {
  runShare,
  type ShareOptions,
  type ShareResult,
  type ShrunkRun,
  shrinkRun,
} from '../harness/campaign_share.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import type { ConformanceTarget } from '../harness/target.ts';
import { loadTarget, TargetLoadError } from '../harness/targets.ts';

/** Everything that decides what a campaign's runs are (and the version its counterexamples carry). */
export interface CampaignJob {
  readonly target: string;
  readonly seed: number;
  readonly maxSteps: number;
  readonly swarm: boolean;
  readonly model: boolean;
  readonly version: string;
  /** Collect what the runs covered, for the HTML report (with the model only; it costs time). */
  readonly coverage?: boolean;
  /** A process target's node that has not answered for this long hangs (harness/process_target.ts). */
  readonly hangTimeoutMs?: number;
  /** Run every schedule twice and compare the transcripts (harness/determinism.ts). */
  readonly checkDeterminism?: boolean;
}

/** What a pool thread is asked to do: run the runs [from, from + count), or shrink run `run`. */
export type TaskRequest =
  | { readonly kind: 'share'; readonly job: CampaignJob; readonly from: number; readonly count: number }
  | { readonly kind: 'shrink'; readonly job: CampaignJob; readonly run: number };

/** A request with the port its heartbeats go back on. */
export type PoolTask = TaskRequest & { readonly port: MessagePort };

/** Sent on the task's port: once when the task starts running, then after every schedule it ran. */
export type Heartbeat =
  | { readonly type: 'started' }
  /** Still working (the polish of a shrunk counterexample runs schedules of its own). */
  | { readonly type: 'alive' }
  | { readonly type: 'ran'; readonly run: number; readonly observedSteps: number };

export type TaskOutcome =
  | { readonly kind: 'share'; readonly share: ShareResult; readonly coverage?: CampaignCoverage }
  | { readonly kind: 'shrunk'; readonly shrunk: ShrunkRun }
  | { readonly kind: 'error'; readonly loadError: boolean; readonly message: string };

const loaded = new Map<string, Promise<ConformanceTarget>>();

function target(name: string, job: CampaignJob): Promise<ConformanceTarget> {
  let t = loaded.get(name);
  if (!t) {
    t = loadTarget(name, {
      ...(job.hangTimeoutMs !== undefined ? { hangTimeoutMs: job.hangTimeoutMs } : {}),
      ...(job.checkDeterminism ? { transcript: true } : {}),
    });
    loaded.set(name, t);
  }
  return t;
}

export default async function campaignTask(task: PoolTask): Promise<TaskOutcome> {
  const port = task.port;
  const beat = (h: Heartbeat) => port.postMessage(h);
  try {
    const t = await target(task.job.target, task.job);
    const { job } = task;
    // The coverage watcher rides along with the model (a shrink is not counted); it never objects.
    const coverage = job.coverage && job.model && task.kind === 'share' ? new CoverageCollector() : undefined;
    const options: ShareOptions = {
      seed: job.seed,
      maxSteps: job.maxSteps,
      swarm: job.swarm,
      version: job.version,
      ...(job.checkDeterminism ? { checkDeterminism: true } : {}),
      ...(coverage
        ? { checkers: () => [...modelCheckers(coverage.onModelEvents), coverage.watcher()] }
        : job.model
          ? { checkers: modelCheckers }
          : {}),
      onRun: (run, result) => beat({ type: 'ran', run, observedSteps: result.observedSteps }),
      onPolishRun: () => beat({ type: 'alive' }),
    };
    beat({ type: 'started' });
    if (task.kind === 'share') {
      const share = runShare(t, task.from, task.count, options);
      return coverage ? { kind: 'share', share, coverage: coverage.result() } : { kind: 'share', share };
    }
    return { kind: 'shrunk', shrunk: shrinkRun(t, task.run, options) };
  } catch (e) {
    const loadError = e instanceof TargetLoadError;
    const message = e instanceof Error ? (loadError ? e.message : (e.stack ?? e.message)) : String(e);
    return { kind: 'error', loadError, message };
  } finally {
    port.close();
  }
}
