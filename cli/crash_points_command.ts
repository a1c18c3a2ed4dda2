// `cpsync crash-points`: harness/crash_points.ts from the command line. The prefix is a saved
// counterexample's schedule (`--from FILE`) or a short default one (a write and a CP's worth of
// ticks); each media write of the next operation of `--kind` is cut, and the first failing point is
// saved as a counterexample that `cpsync replay` runs. Exit codes as `check`: 0 every point held, 1 a
// point failed, 2 a usage error (an operation that never came after the prefix is one).

import { type Counterexample, toCounterexample } from '../harness/campaign.ts';
import { crashPoints, OPERATION_KINDS, type OperationKind } from '../harness/crash_points.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import type { Schedule } from '../harness/schedule.ts';
import type { Mode } from '../harness/target.ts';
import { loadTarget } from '../harness/targets.ts';
import { saveCounterexample } from './counterexample_file.ts';
import { UsageError } from './usage_error.ts';

export interface CrashPointsCommandOptions {
  readonly kind: string;
  readonly target: string;
  readonly from?: string;
  readonly mode: string;
  readonly seed: number;
  readonly torn: string;
  readonly model: boolean;
  readonly json: boolean;
  readonly out: string;
}

const MODES: readonly Mode[] = ['sync', 'strict-sync', 'semi-sync'];

export async function crashPointsCommand(
  o: CrashPointsCommandOptions,
  readCounterexample: (file: string) => Counterexample,
  version: string,
): Promise<number> {
  if (!(OPERATION_KINDS as readonly string[]).includes(o.kind))
    throw new UsageError(`--kind must be one of ${OPERATION_KINDS.join(', ')}`);
  if (!MODES.includes(o.mode as Mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}`);
  if (o.torn !== 'torn' && o.torn !== 'whole' && o.torn !== 'both')
    throw new UsageError('--torn must be torn, whole or both');
  const kind = o.kind as OperationKind;
  const target = await loadTarget(o.target);
  const prefix: Schedule = o.from
    ? (() => {
        const s = readCounterexample(o.from).schedule;
        return { config: s.config, seed: s.seed, actions: s.actions };
      })()
    : {
        config: { preset: { sources: 1, mode: o.mode as Mode } },
        seed: o.seed,
        actions: [
          { kind: 'write', source: 'src0', lba: 3 },
          { kind: 'tick', ticks: 12 },
        ],
      };
  const checkers = o.model ? modelCheckers : undefined;
  const r = crashPoints(target, { prefix, kind, torn: o.torn, ...(checkers ? { checkers } : {}) });
  if (r.operation === null)
    throw new UsageError(`no ${kind} came after the prefix${o.from ? ` of ${o.from}` : ''}: nothing to cut`);
  const failed = r.points.filter((p) => !p.result.ok);
  const first = failed[0];
  let file: string | null = null;
  if (first) {
    const cx = toCounterexample(target, first.schedule, o.seed, `crash-point ${kind} ${first.afterWrites}`, {
      runs: 1,
      seed: o.seed,
      maxSteps: first.schedule.actions.length,
      swarm: false,
      version,
      shrink: false,
      ...(checkers ? { checkers } : {}),
    });
    const saved = saveCounterexample({ ...cx, target: o.target }, o.out, target.name);
    file = saved.file;
    if (saved.problem) console.error(`cpsync: ${saved.problem}`);
  }
  const summary = {
    target: o.target,
    kind,
    node: r.operation.node,
    mediaWrites: r.operation.writes,
    points: r.points.length,
    failed: failed.length,
    failures: failed.map((p) => ({
      afterWrites: p.afterWrites,
      torn: p.torn,
      property: p.result.violation!.property,
      message: p.result.violation!.message,
    })),
    counterexample: file,
  };
  if (o.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `${o.target}: the next ${kind} took ${r.operation.writes} media writes on ${r.operation.node}; ${r.points.length} crash points (${o.torn})`,
    );
    for (const p of r.points)
      console.log(
        `  cut after write ${String(p.afterWrites).padStart(3)}${p.torn ? ' (torn)' : ''}: ${p.result.ok ? 'held' : `VIOLATED ${p.result.violation!.property}: ${p.result.violation!.message}`}`,
      );
    console.log(failed.length === 0 ? 'every crash point held' : `${failed.length} crash points failed`);
    if (file) console.log(`counterexample: ${file}\nreplay: cpsync replay ${file}`);
  }
  return failed.length > 0 ? 1 : 0;
}
