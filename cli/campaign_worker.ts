// Runs a campaign in a worker thread so that the command line can watch it. A target whose call never
// returns (an endless loop) stops the progress messages; the CLI then ends the worker and prints one
// line, where an in-process campaign would hang with the target. The worker loads the target itself:
// a target is code, and code does not cross threads. Only the CLI uses this (it reads the clock).

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type CampaignResult, runCampaign } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { loadTarget, TargetLoadError } from '../harness/targets.ts';

export interface CampaignJob {
  readonly target: string;
  readonly runs: number;
  readonly seed: number;
  readonly maxSteps: number;
  readonly swarm: boolean;
  readonly model: boolean;
  readonly version: string;
}

type Message =
  | { readonly type: 'progress'; readonly run: number; readonly steps: number }
  | { readonly type: 'done'; readonly result: CampaignResult }
  | { readonly type: 'error'; readonly loadError: boolean; readonly message: string };

/** The target made no progress for the allowed time: it hangs (or one schedule is that slow). */
export class TargetHang extends Error {
  override readonly name = 'TargetHang';
}

const BOOT = new URL('../bin/ts_worker.js', import.meta.url);

/**
 * Runs `job` in a worker; `onProgress` after each schedule. Rejects with TargetHang when no schedule
 * finished for `hangMs`, with TargetLoadError when the worker could not load the target.
 */
export function runCampaignInWorker(
  job: CampaignJob,
  hangMs: number,
  onProgress: (run: number, steps: number) => void,
): Promise<CampaignResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, { workerData: { entry: import.meta.url, job } });
    let lastRun = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      void worker.terminate();
      settle();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new TargetHang(
                `target '${job.target}' made no progress for ${hangMs / 1000} s in schedule ${lastRun + 1} (campaign seed ${job.seed}): it hangs, or one schedule takes longer than --hang-timeout`,
              ),
            ),
          ),
        hangMs,
      );
    };
    arm();
    worker.on('message', (m: Message) => {
      if (m.type === 'progress') {
        lastRun = m.run;
        onProgress(m.run, m.steps);
        arm();
      } else if (m.type === 'done') finish(() => resolve(m.result));
      else finish(() => reject(m.loadError ? new TargetLoadError(m.message) : new Error(m.message)));
    });
    worker.on('error', (e) => finish(() => reject(e)));
  });
}

async function workerMain(job: CampaignJob): Promise<void> {
  const port = parentPort!;
  try {
    const target = await loadTarget(job.target);
    let steps = 0;
    const result = runCampaign(target, {
      runs: job.runs,
      seed: job.seed,
      maxSteps: job.maxSteps,
      swarm: job.swarm,
      version: job.version,
      ...(job.model ? { checkers: modelCheckers } : {}),
      onRun: (run, r) => {
        steps += r.steps;
        port.postMessage({ type: 'progress', run, steps } satisfies Message);
      },
    });
    port.postMessage({ type: 'done', result } satisfies Message);
  } catch (e) {
    const loadError = e instanceof TargetLoadError;
    const message = e instanceof Error ? (loadError ? e.message : (e.stack ?? e.message)) : String(e);
    port.postMessage({ type: 'error', loadError, message } satisfies Message);
  }
}

if (!isMainThread && (workerData as { entry?: string } | null)?.entry === import.meta.url)
  void workerMain((workerData as { job: CampaignJob }).job);
