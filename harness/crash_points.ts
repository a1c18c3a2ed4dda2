// Crash points: a directed search where campaigns sample. After a schedule prefix, the next operation
// of a chosen kind (a CP on the source, a CP sync applied on the destination, a log append, a resync
// transfer, a failover's replay) is located by a probe run, its media writes on the node that does it
// are counted, and then one run per write cuts power right after that write, torn (or whole). Every
// run is checked as a campaign's would be: every property, the model in lockstep if given.
//
// The operation is found by what the harness sees (the target's observations, the media writes its
// node issued, the action that ran), so any target can be searched. Deterministic: the same prefix,
// kind and target give the same runs.

import type { History } from './history.ts';
import { type LockstepChecker, Run, type RunResult, runSchedule } from './runner.ts';
import { type Schedule, specOf } from './schedule.ts';
import { mergeTicks } from './shrink.ts';
import { type ConformanceTarget, DESTINATION, type NodeId } from './target.ts';
import { World, type WorldAction } from './world.ts';

export const OPERATION_KINDS = [
  'source-cp',
  'cp-sync-apply',
  'log-append',
  'resync-transfer',
  'failover-replay',
  'rebuild',
] as const;

export type OperationKind = (typeof OPERATION_KINDS)[number];

export interface CrashPointsOptions {
  /** The schedule to start from: its config, seed and actions (its actions run first). */
  readonly prefix: Schedule;
  readonly kind: OperationKind;
  /** The relationship whose operation is cut (the prefix's first source by default). */
  readonly source?: NodeId;
  /** Tear the cut write (default), leave it whole, or try both. */
  readonly torn?: 'torn' | 'whole' | 'both';
  readonly checkers?: () => readonly LockstepChecker[];
  readonly livenessTicks?: number;
}

export interface CrashPoint {
  /** Power is cut right after this media write of the operation (1-based). */
  readonly afterWrites: number;
  readonly torn: boolean;
  readonly schedule: Schedule;
  readonly result: RunResult;
}

export interface CrashPointsResult {
  /** The node that does the operation, and how many media writes it took; null if none came. */
  readonly operation: { readonly node: NodeId; readonly writes: number; readonly step: number } | null;
  readonly points: readonly CrashPoint[];
}

/**
 * What follows the prefix so that an operation of `kind` happens: for a CP, writes and time; for a
 * resync, a partition long enough to time out, a write to carry, the heal; for a failover's replay,
 * writes, the source lost, the failover; for a rebuild, writes committed in a CP, then a disk of the
 * source's primary failed and replaced (the rebuild onto the spare runs inside replace-disk).
 */
export function continuation(kind: OperationKind, source: NodeId, prefix: Schedule): WorldAction[] {
  const spec = specOf(prefix.config);
  const write = (lba: number): WorldAction => ({ kind: 'write', source, lba });
  const tick = (ticks: number): WorldAction => ({ kind: 'tick', ticks });
  const cp = spec.cpIntervalTicks + 2;
  switch (kind) {
    case 'source-cp':
    case 'cp-sync-apply':
      return [write(0), write(1), write(2), tick(cp)];
    case 'log-append':
      return [write(0), tick(2)];
    case 'resync-transfer':
      return [
        { kind: 'partition', source },
        write(0),
        write(1),
        tick(2 * spec.ackTimeoutTicks + 2),
        { kind: 'heal', source },
        tick(2 * spec.ackTimeoutTicks + cp),
      ];
    case 'failover-replay':
      return [write(0), write(1), tick(2), { kind: 'crash', node: source }, { kind: 'failover', source }];
    case 'rebuild':
      return [
        write(0),
        write(1),
        write(2),
        tick(cp),
        { kind: 'fail-disk', node: source, group: 'primary', index: 0 },
        { kind: 'replace-disk', node: source, group: 'primary', index: 0 },
      ];
  }
}

/** The node that does an operation of `kind` for `source`'s relationship. */
function nodeOf(kind: OperationKind, source: NodeId): NodeId {
  return kind === 'source-cp' || kind === 'rebuild' ? source : DESTINATION;
}

/** Is this step (of the continuation) the operation, by what the harness saw? */
function isOperation(kind: OperationKind, source: NodeId, h: History, writes: number): boolean {
  const b = h.before.sources[source]!;
  const a = h.after.sources[source]!;
  if (writes === 0) return false;
  switch (kind) {
    case 'source-cp':
      return a.primaryCp > b.primaryCp;
    case 'cp-sync-apply':
      return a.mirrorCp > b.mirrorCp && b.relationship === 'in-sync';
    case 'resync-transfer':
      return a.mirrorCp > b.mirrorCp && b.relationship === 'resyncing';
    case 'log-append':
      return a.mirrorCp === b.mirrorCp && h.action?.kind === 'tick';
    case 'failover-replay':
      return h.action?.kind === 'failover';
    case 'rebuild':
      return h.action?.kind === 'replace-disk' && h.action.node === source;
  }
}

/** Watches each step, once told to, for the operation and the node's media writes in it. */
class Probe implements LockstepChecker {
  readonly name = 'crash-point-probe';
  found: { step: number; writes: number } | null = null;
  watching = false;
  private steps = 0;
  private lastWrites = 0;
  constructor(
    private readonly kind: OperationKind,
    private readonly source: NodeId,
    private readonly node: NodeId,
  ) {}

  enabled(): boolean {
    return true;
  }

  afterStep(h: History): null {
    const now = h.world.media[this.node]!.power.writes;
    // A restart restores power and starts the count again.
    const writes = now >= this.lastWrites ? now - this.lastWrites : now;
    this.lastWrites = now;
    const step = this.steps++;
    if (this.watching && this.found === null && isOperation(this.kind, this.source, h, writes))
      this.found = { step, writes };
    return null;
  }
}

/** One run per media write of the next operation of `kind`, power cut right after it. */
export function crashPoints(target: ConformanceTarget, o: CrashPointsOptions): CrashPointsResult {
  const source = o.source ?? 'src0';
  const node = nodeOf(o.kind, source);
  const world = new World({
    spec: specOf(o.prefix.config),
    target,
    seed: o.prefix.seed,
    trace: false,
    ...(o.prefix.config.linkFaults ? { linkFaults: o.prefix.config.linkFaults } : {}),
  });
  // The prefix, then the continuation watched, one tick a step: each executed action is one step,
  // so the operation's step is an index into what ran. The model runs too, so that what it would
  // not enable is skipped here as in the runs below.
  const probe = new Probe(o.kind, source, node);
  const run = new Run(world, { checkers: [probe, ...(o.checkers?.() ?? [])] });
  const failed = run.safety(o.prefix.actions.flatMap(expand));
  probe.watching = true;
  if (failed === null) run.safety(continuation(o.kind, source, o.prefix).flatMap(expand));
  if (probe.found === null) return { operation: null, points: [] };
  const before = run.executed.slice(0, probe.found.step);
  const after = run.executed.slice(probe.found.step);
  const tears = o.torn === 'both' ? [true, false] : [o.torn !== 'whole'];
  const points: CrashPoint[] = [];
  for (let k = 1; k <= probe.found.writes; k++)
    for (const torn of tears) {
      const crash: WorldAction = { kind: 'crash', node, afterWrites: k, torn };
      // A rebuild's cut rides on its replace-disk, which arms it for the rebuild's writes alone.
      const cut =
        o.kind === 'rebuild' && after[0]?.kind === 'replace-disk'
          ? [{ ...after[0], cutAfterWrites: k, torn }, ...after.slice(1)]
          : [crash, ...after];
      const schedule: Schedule = { ...o.prefix, actions: mergeTicks([...before, ...cut]) };
      const result = runSchedule(target, schedule, {
        checkers: o.checkers?.() ?? [],
        ...(o.livenessTicks === undefined ? {} : { livenessTicks: o.livenessTicks }),
      });
      points.push({ afterWrites: k, torn, schedule, result });
    }
  return { operation: { node, writes: probe.found.writes, step: probe.found.step }, points };
}

function expand(a: WorldAction): WorldAction[] {
  return a.kind === 'tick'
    ? Array.from({ length: a.ticks }, () => ({ kind: 'tick', ticks: 1 }) as const)
    : [a];
}
