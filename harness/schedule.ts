// Schedules: what a conformance run makes happen, as plain data (JSON-serialisable, replayable), and
// the fast-check arbitraries that generate them. Swarm testing: each schedule draws its own mix of
// action kinds, so some runs are all partitions, others all crashes, and deep states get reached.

import fc from 'fast-check';
import { disksFor, toleranceOfLevel } from './media/geometry.ts';
import { type PresetOptions, smallWorld } from './presets.ts';
import type { LinkFaults, MessageFault } from './sim_network.ts';
import { answerDeadlineTicks, DESTINATION, type Mode, type NodeId, type WorldSpec } from './target.ts';
import { describeMessageFault, type WorldAction } from './world.ts';
import type { DataPattern } from './write_contents.ts';

export interface ScheduleConfig {
  readonly preset: PresetOptions;
  /** Faults of every link during the safety phase; the liveness phase makes every link perfect. */
  readonly linkFaults?: LinkFaults;
}

export interface Schedule {
  readonly config: ScheduleConfig;
  /** The world's seed: it drives the network's draws. */
  readonly seed: number;
  /** Candidate actions; the runner skips those the model or the fault atlas does not enable. */
  readonly actions: readonly WorldAction[];
}

/** Relative weights of action kinds, 0 = never. */
export interface Mix {
  readonly write: number;
  readonly read: number;
  readonly tick: number;
  readonly partition: number;
  readonly heal: number;
  readonly crash: number;
  readonly crashMidWork: number;
  readonly restart: number;
  readonly diskFault: number;
  readonly replace: number;
  readonly failover: number;
  /** A fault aimed at one message (lose, duplicate, delay, stale copy, corrupt, truncate). */
  readonly messageFault: number;
  /** A link slower than the ack timeout, and its end. */
  readonly slowLink: number;
  /** A few actions that together reach a rare situation (scenarioArb). */
  readonly scenario: number;
  /** Many writes in one step: a sequential fill, or overwrites of one LBA. */
  readonly burst: number;
  /** A node that pauses without crashing, or whose clock runs slow. */
  readonly clock: number;
  /** A node's RAID scrub (TargetInstance.scrub, rule D3). */
  readonly scrub: number;
  /**
   * Disk faults concentrated on one group: the weight, against 1 for a group drawn afresh, with which
   * a disk action goes to group `focusGroup` (modulo the world's groups, RAID-DP groups first); 0
   * spreads them over every group.
   */
  readonly diskFocus: number;
  readonly focusGroup: number;
  /**
   * Writes (and bursts) whose data repeats an earlier write's, is all zeros, or differs from an
   * earlier write's in one byte: the weight against 10 for fresh data.
   */
  readonly dataPattern: number;
  /** A client read or write of an LBA past the end of the volume (rule R2). */
  readonly outOfRange: number;
}

export const DEFAULT_MIX: Mix = {
  write: 30,
  read: 10,
  tick: 30,
  partition: 3,
  heal: 4,
  crash: 1,
  crashMidWork: 2,
  restart: 4,
  diskFault: 2,
  replace: 2,
  failover: 1,
  messageFault: 3,
  slowLink: 1,
  scenario: 4,
  burst: 2,
  clock: 1,
  scrub: 1,
  diskFocus: 0,
  focusGroup: 0,
  dataPattern: 2,
  outOfRange: 1,
};

export interface ScheduleOptions {
  readonly maxSteps: number;
  /** Draw a mix per schedule instead of DEFAULT_MIX. */
  readonly swarm: boolean;
  /** Restrict the modes drawn (all three by default). */
  readonly modes?: readonly Mode[];
  /** At most this many sources (fan-in); 1 or 2. */
  readonly maxSources?: number;
}

const MODES: readonly Mode[] = ['sync', 'strict-sync', 'semi-sync'];

export function mixArb(): fc.Arbitrary<Mix> {
  // Each kind is off in about a third of the runs; writes and ticks are always on.
  const w = (max: number) => fc.oneof(fc.constant(0), fc.integer({ min: 1, max }));
  return fc.record({
    write: fc.integer({ min: 5, max: 40 }),
    read: w(15),
    tick: fc.integer({ min: 5, max: 40 }),
    partition: w(6),
    heal: w(6),
    crash: w(3),
    crashMidWork: w(5),
    restart: w(6),
    diskFault: w(5),
    replace: w(4),
    failover: w(10),
    messageFault: w(8),
    slowLink: w(4),
    // Off in one run in five, not three: a dozen scenarios share it, each reaching its situation in 5%.
    scenario: fc.oneof(
      { weight: 1, arbitrary: fc.constant(0) },
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 60 }) },
    ),
    burst: w(4),
    clock: w(4),
    scrub: w(3),
    // Focused in two schedules of three: double failures in one RAID-DP group need it.
    diskFocus: fc.oneof(fc.constant(0), fc.integer({ min: 4, max: 12 }), fc.integer({ min: 4, max: 12 })),
    focusGroup: fc.nat({ max: 5 }),
    dataPattern: w(10),
    outOfRange: w(2),
  });
}

export function configArb(options: ScheduleOptions): fc.Arbitrary<ScheduleConfig> {
  return fc.record({
    preset: fc
      .record({
        sources: fc.integer({ min: 1, max: options.maxSources ?? 2 }),
        mode: fc.constantFrom(...(options.modes ?? MODES)),
        // Mostly small volumes (overwrites, freed blocks); sometimes one whose live image spans many
        // stripes on both sides once a burst fills it.
        lbaCount: fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(16, 64) },
          { weight: 1, arbitrary: fc.constant(256) },
        ),
        // A small NVLOG half fills within a CP: the half-full CP trigger and back-pressure get exercised.
        nvlogHalfEntries: fc.constantFrom(3, 16),
        // Half the sources keep their primary on RAID-DP: it survives two failed disks.
        primaryLevel: fc.constantFrom('raid4' as const, 'raid_dp' as const),
        // Mostly a log file of four NVLOG halves' worth of records: it wraps within a schedule.
        smallLogFile: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, fc.constant(false)),
      })
      .map(({ smallLogFile, ...p }) => (smallLogFile ? { ...p, smallLogFile } : p)),
    linkFaults: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      {
        weight: 1,
        arbitrary: fc.record({
          deliveryDelayTicksMin: fc.constant(1),
          deliveryDelayTicksMax: fc.integer({ min: 1, max: 4 }),
          lossPercent: fc.integer({ min: 0, max: 10 }),
          duplicatePercent: fc.integer({ min: 0, max: 10 }),
          reorderPercent: fc.integer({ min: 0, max: 10 }),
        }),
      },
    ),
  });
}

/** One action drawn from `mix` for a world built from `spec`. */
export function actionArb(spec: WorldSpec, mix: Mix): fc.Arbitrary<WorldAction> {
  const sources = spec.sources.map((s) => s.id);
  const nodes: NodeId[] = [...sources, 'dst'];
  const lbaCount = spec.sources[0]!.lbaCount;
  const source = fc.constantFrom(...sources);
  // Hot LBAs make overwrites (and freed blocks) common; cold ones spread the volume.
  const lba = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: lbaCount - 1 }) },
  );
  const groups = groupsOf(spec);
  const anyGroup = fc.constantFrom(...groups);
  const focused = byTolerance(groups, spec)[mix.focusGroup % groups.length]!;
  const group =
    mix.diskFocus === 0
      ? anyGroup
      : fc.oneof(
          { weight: mix.diskFocus, arbitrary: fc.constant(focused) },
          { weight: 1, arbitrary: anyGroup },
        );
  const diskAndBlock = group.chain((g) =>
    fc.record({
      node: fc.constant(g.node),
      group: fc.constant(g.group),
      index: fc.integer({ min: 0, max: g.disks - 1 }),
      // Low DBNs hold the roots, maps and early data: where a latent error matters.
      dbn: fc.integer({ min: 0, max: Math.min(15, g.blocksPerDisk - 1) }),
    }),
  );
  const disk = diskAndBlock.map(({ node, group, index }) => ({ node, group, index }));
  const data = dataPatternArb(spec, mix);
  const weighted: { weight: number; arbitrary: fc.Arbitrary<WorldAction> }[] = [
    {
      weight: mix.write,
      arbitrary: fc
        .record({ kind: fc.constant('write' as const), source, lba, data })
        .map(({ data: d, ...w }) => (d === null ? w : { ...w, data: d })),
    },
    { weight: mix.read, arbitrary: fc.record({ kind: fc.constant('read' as const), source, lba }) },
    {
      weight: mix.burst,
      arbitrary: fc
        .oneof(
          // Fill the volume, in order: the live image spans every stripe. Where the log file is small,
          // on past the end until its entries outnumber the log file's blocks: the log file wraps.
          fc.record({
            kind: fc.constant('burst' as const),
            source,
            from: fc.constant(0),
            count: fc.constant(Math.max(lbaCount, logWrapWrites(spec) ?? 0)),
            stride: fc.constant(1),
          }),
          // A burst that fills NVLOG halves and stalls: sequential, or all to one LBA.
          fc.record({
            kind: fc.constant('burst' as const),
            source,
            from: lba,
            count: fc.integer({ min: 4, max: 40 }),
            stride: fc.constantFrom(0, 1),
          }),
          // Overwrite-heavy: a hot set of 2 to 4 LBAs written over and over, in turn.
          fc.record({
            kind: fc.constant('burst' as const),
            source,
            from: lba,
            count: fc.integer({ min: 8, max: 40 }),
            stride: fc.constant(1),
            span: fc.integer({ min: 2, max: 4 }),
          }),
        )
        .chain((b) => data.map((d) => (d === null ? b : { ...b, data: d }))),
    },
    {
      weight: mix.tick,
      arbitrary: fc.record({ kind: fc.constant('tick' as const), ticks: fc.integer({ min: 1, max: 12 }) }),
    },
    { weight: mix.partition, arbitrary: fc.record({ kind: fc.constant('partition' as const), source }) },
    { weight: mix.heal, arbitrary: fc.record({ kind: fc.constant('heal' as const), source }) },
    {
      weight: mix.crash,
      arbitrary: fc.record({ kind: fc.constant('crash' as const), node: fc.constantFrom(...nodes) }),
    },
    {
      weight: mix.crashMidWork,
      arbitrary: fc.record({
        kind: fc.constant('crash' as const),
        node: fc.constantFrom(...nodes),
        afterWrites: fc.integer({ min: 1, max: 40 }),
        torn: fc.boolean(),
      }),
    },
    {
      weight: mix.restart,
      arbitrary: fc.record({ kind: fc.constant('restart' as const), node: fc.constantFrom(...nodes) }),
    },
    { weight: mix.diskFault, arbitrary: disk.map((d) => ({ kind: 'fail-disk' as const, ...d })) },
    {
      weight: mix.diskFault,
      arbitrary: diskAndBlock.map((d) => ({ kind: 'latent-error' as const, ...d })),
    },
    { weight: mix.replace, arbitrary: disk.map((d) => ({ kind: 'replace-disk' as const, ...d })) },
    {
      weight: mix.scrub,
      arbitrary: fc.record({ kind: fc.constant('scrub' as const), node: fc.constantFrom(...nodes) }),
    },
    { weight: mix.failover, arbitrary: fc.record({ kind: fc.constant('failover' as const), source }) },
    {
      weight: mix.messageFault,
      arbitrary: fc
        .record({
          kind: fc.constant('message-fault' as const),
          // Either way on the source's link: an entry or a CP sync lost, or its log-ack or confirm.
          link: fc.tuple(source, fc.boolean()),
          fault: messageFaultArb(spec),
        })
        .map(({ kind, link: [s, toDestination], fault }) => ({
          kind,
          from: toDestination ? s : ('dst' as const),
          to: toDestination ? ('dst' as const) : s,
          fault,
        })),
    },
    {
      weight: mix.slowLink,
      arbitrary: fc.record({
        kind: fc.constant('slow' as const),
        source,
        ticks: fc.integer({ min: spec.ackTimeoutTicks + 1, max: 2 * spec.ackTimeoutTicks + 4 }),
      }),
    },
    { weight: mix.slowLink, arbitrary: fc.record({ kind: fc.constant('speed-up' as const), source }) },
    {
      weight: mix.clock,
      arbitrary: fc.record({
        kind: fc.constant('pause' as const),
        node: fc.constantFrom(...nodes),
        // Up to past the ack timeout, as a long garbage-collection pause or a stopped VM would.
        ticks: fc.integer({ min: 1, max: 3 * spec.ackTimeoutTicks }),
      }),
    },
    {
      weight: mix.clock,
      arbitrary: fc.record({
        kind: fc.constant('drift' as const),
        node: fc.constantFrom(...nodes),
        skipEvery: fc.constantFrom(0, 2, 3, 5),
      }),
    },
    {
      weight: mix.outOfRange,
      arbitrary: fc.record({
        kind: fc.constant('out-of-range' as const),
        source,
        op: fc.constantFrom('read' as const, 'write' as const),
        // The first LBA past the end (an off-by-one), or one far past it.
        lba: fc.oneof(fc.constant(lbaCount), fc.integer({ min: lbaCount + 1, max: 0xffff })),
      }),
    },
  ];
  return fc.oneof(...weighted.filter((x) => x.weight > 0));
}

/**
 * A write's data pattern, or null for fresh data: as often as `mix.dataPattern` against 10. Repeats and
 * near copies go back at most 4 writes, so that hot LBAs get the same contents again.
 */
function dataPatternArb(spec: WorldSpec, mix: Mix): fc.Arbitrary<DataPattern | null> {
  if (mix.dataPattern === 0) return fc.constant(null);
  const back = fc.integer({ min: 1, max: 4 });
  const pattern: fc.Arbitrary<DataPattern> = fc.oneof(
    fc.constant({ kind: 'zero' as const }),
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('repeat' as const), back }) },
    fc.record({
      kind: fc.constant('near' as const),
      back,
      byte: fc.integer({ min: 0, max: spec.blockBytes - 1 }),
    }),
  );
  return fc.oneof(
    { weight: 10, arbitrary: fc.constant(null) },
    { weight: mix.dataPattern, arbitrary: pattern },
  );
}

/**
 * In a world whose log files are small (presets.ts, smallLogFile), the writes that wrap them: more
 * than a log file group has blocks (a record takes at least its data block). Undefined elsewhere,
 * where it would be hundreds of writes.
 */
export function logWrapWrites(spec: WorldSpec): number | undefined {
  const blocks = spec.sources.map((s) => s.logFile.dataDisks * s.logFile.blocksPerDisk);
  const small = spec.sources.every((s, i) => blocks[i]! <= 2 + 8 * s.nvlogHalfEntries + s.logFile.dataDisks);
  return small ? Math.max(...blocks) + 8 : undefined;
}

/** A fault for one message: delays up to past the ack timeout, stale copies from CPs ago. */
function messageFaultArb(spec: WorldSpec): fc.Arbitrary<MessageFault> {
  const timeout = spec.ackTimeoutTicks;
  return fc.oneof(
    fc.constant({ kind: 'lose' as const }),
    fc.constant({ kind: 'duplicate' as const }),
    fc.record({ kind: fc.constant('delay' as const), ticks: fc.integer({ min: 1, max: 2 * timeout + 4 }) }),
    fc.record({
      kind: fc.constant('stale' as const),
      ticks: fc.integer({ min: spec.cpIntervalTicks, max: 6 * spec.cpIntervalTicks }),
    }),
    fc.record({
      kind: fc.constant('corrupt' as const),
      byte: fc.integer({ min: 0, max: spec.blockBytes + 64 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), bytes: fc.integer({ min: 0, max: 64 }) }),
  );
}

/**
 * Short runs of actions that reach situations single draws seldom do (each under 5% of swarm
 * schedules without them): a crash while a resync is under way, a disk failed then replaced, a read
 * of a degraded group, a failover after writes acknowledged in sync.
 */
export function scenarioArb(spec: WorldSpec): fc.Arbitrary<WorldAction[]> {
  const source = fc.constantFrom(...spec.sources.map((s) => s.id));
  const lba = fc.integer({ min: 0, max: spec.sources[0]!.lbaCount - 1 });
  const groups = groupsOf(spec);
  const disk = fc.constantFrom(...groups).chain((g) =>
    fc.record({
      node: fc.constant(g.node),
      group: fc.constant(g.group),
      index: fc.nat({ max: g.disks - 1 }),
    }),
  );
  const primaryDisk = fc.constantFrom(...groups.filter((g) => g.group === 'primary')).chain((g) =>
    fc.record({
      node: fc.constant(g.node),
      group: fc.constant(g.group),
      index: fc.nat({ max: g.disks - 1 }),
    }),
  );
  const ticks = (min: number, max: number) => fc.integer({ min, max });
  // Out of sync with a write to carry, the link comes back, and power goes in the middle of the
  // resync's media writes (on the source, or on the destination applying the transfer). Those come
  // within the first 16 on either side (the reference, one source).
  const crashInResync = fc
    .tuple(source, lba, ticks(1, 4), fc.integer({ min: 1, max: 16 }), fc.boolean(), fc.boolean())
    .map(([s, l, t, k, dst, torn]): WorldAction[] => [
      { kind: 'partition', source: s },
      { kind: 'write', source: s, lba: l },
      { kind: 'tick', ticks: 2 * spec.ackTimeoutTicks + 2 },
      { kind: 'heal', source: s },
      { kind: 'tick', ticks: t },
      { kind: 'crash', node: dst ? 'dst' : s, afterWrites: k, torn },
    ]);
  // A disk fails, time passes (reads and CPs on the degraded group), and it is replaced. Half the
  // time a source's primary, and the read is that source's: served by the degraded group. One time in
  // three power goes in the middle of the rebuild (rule D2), and the node comes back.
  const degraded = fc
    .tuple(
      fc.oneof(primaryDisk, disk),
      source,
      lba,
      ticks(1, 12),
      fc.oneof(
        { weight: 2, arbitrary: fc.constant(null) },
        fc.record({ cutAfterWrites: fc.integer({ min: 1, max: 3 }), torn: fc.boolean() }),
      ),
    )
    .map(([d, s, l, t, cut]): WorldAction[] => [
      { kind: 'fail-disk', ...d },
      { kind: 'read', source: d.group === 'primary' ? d.node : s, lba: l },
      { kind: 'tick', ticks: t },
      ...(cut === null
        ? [{ kind: 'replace-disk' as const, ...d }]
        : [
            { kind: 'replace-disk' as const, ...d, ...cut },
            { kind: 'restart' as const, node: d.node },
          ]),
    ]);
  // Data committed on both sides, a disk of either fails, and power goes between two calls with the
  // group still degraded (rule D6): the restart must come back on the degraded group, its reads and
  // images whole. The reads after it cover the burst, so a block that lived on the failed disk is read.
  const degradedCut = fc
    .tuple(fc.oneof({ weight: 2, arbitrary: primaryDisk }, disk), source, ticks(0, 3))
    .map(([d, s, t]): WorldAction[] => {
      const writer = d.node === DESTINATION ? s : d.node;
      return [
        { kind: 'burst', source: writer, from: 0, count: 8, stride: 1 },
        { kind: 'tick', ticks: spec.cpIntervalTicks + 2 },
        { kind: 'fail-disk', ...d },
        { kind: 'write', source: writer, lba: 1 },
        ...(t > 0 ? [{ kind: 'tick' as const, ticks: t }] : []),
        { kind: 'crash', node: d.node },
        { kind: 'restart', node: d.node },
        { kind: 'tick', ticks: 2 },
        ...[0, 2, 3, 5, 7].map((x): WorldAction => ({ kind: 'read', source: writer, lba: x })),
      ];
    });
  // Data on a source's primary, committed; one of its disks fails and power goes in the middle of the
  // rebuild onto the spare (rule D2: the restart must finish it, never take the spare's blocks as data).
  const rebuildCut = fc
    .tuple(primaryDisk, fc.integer({ min: 1, max: 3 }), fc.boolean())
    .map(([d, k, torn]): WorldAction[] => [
      { kind: 'burst', source: d.node, from: 0, count: 12, stride: 1 },
      { kind: 'tick', ticks: spec.cpIntervalTicks + 2 },
      { kind: 'fail-disk', ...d },
      { kind: 'replace-disk', ...d, cutAfterWrites: k, torn },
      { kind: 'restart', node: d.node },
    ]);
  // Writes acknowledged in sync, then the source is lost for good: now, or in the middle of its
  // work (a CP, an NVLOG append), when the log file's replay matters most.
  const failover = fc
    .tuple(
      source,
      fc.array(lba, { minLength: 1, maxLength: 4 }),
      ticks(2, 12),
      fc.option(fc.record({ afterWrites: fc.integer({ min: 1, max: 12 }), torn: fc.boolean() })),
    )
    .map(([s, lbas, t, cut]): WorldAction[] => [
      ...lbas.map((l): WorldAction => ({ kind: 'write', source: s, lba: l })),
      { kind: 'tick', ticks: t },
      cut === null
        ? { kind: 'crash', node: s }
        : { kind: 'crash', node: s, afterWrites: cut.afterWrites, torn: cut.torn },
      ...(cut === null ? [] : [{ kind: 'tick' as const, ticks: spec.cpIntervalTicks + 2 }]),
      { kind: 'failover', source: s },
    ]);
  // Two disks of one RAID-DP group fail (rule R1 holds at its tolerance), reads and CPs run on it
  // doubly degraded, and both are replaced. A primary six times as often: its reads are served
  // by the doubly degraded group.
  const dpGroups = groups.filter((g) => toleranceOf(spec, g) === 2);
  const doubleFailure = fc
    .oneof(...dpGroups.map((g) => ({ weight: g.group === 'primary' ? 6 : 1, arbitrary: fc.constant(g) })))
    .chain((g) =>
      fc.tuple(
        fc.constant(g),
        fc.uniqueArray(fc.nat({ max: g.disks - 1 }), { minLength: 2, maxLength: 2 }),
        source,
        lba,
        ticks(1, 12),
      ),
    )
    .map(([g, [i, j], s, l, t]): WorldAction[] => {
      const at = (index: number) => ({ node: g.node, group: g.group, index });
      return [
        { kind: 'fail-disk', ...at(i!) },
        { kind: 'fail-disk', ...at(j!) },
        { kind: 'read', source: g.group === 'primary' ? g.node : s, lba: l },
        { kind: 'tick', ticks: t },
        { kind: 'read', source: g.group === 'primary' ? g.node : s, lba: l },
        { kind: 'replace-disk', ...at(i!) },
        { kind: 'replace-disk', ...at(j!) },
      ];
    });
  // A group loses one disk more than it tolerates: writes of its source first, time for a CP, then
  // every disk the group may lose and one more; `tail` is what follows, given the source, the LBAs
  // written, the tick count drawn and one more LBA.
  const pastTolerance = (
    of: readonly GroupRef[],
    tail: (s: NodeId, lbas: readonly number[], t: number, l: number) => WorldAction[],
  ) =>
    fc
      .tuple(
        fc.constantFrom(...of),
        fc.array(lba, { minLength: 1, maxLength: 3 }),
        ticks(spec.cpIntervalTicks + 1, spec.cpIntervalTicks + 4),
        lba,
      )
      .chain(([g, lbas, t, l]) =>
        fc
          .uniqueArray(fc.nat({ max: g.disks - 1 }), {
            minLength: toleranceOf(spec, g) + 1,
            maxLength: toleranceOf(spec, g) + 1,
          })
          .map((indices): WorldAction[] => {
            const s = g.group.startsWith('mirror:') ? g.group.slice('mirror:'.length) : g.node;
            return [
              ...lbas.map((x): WorldAction => ({ kind: 'write', source: s, lba: x })),
              { kind: 'tick', ticks: t },
              ...indices.map(
                (index, i): WorldAction => ({
                  kind: 'fail-disk',
                  node: g.node,
                  group: g.group,
                  index,
                  ...(i === indices.length - 1 ? { beyond: true } : {}),
                }),
              ),
              ...tail(s, lbas, t, l),
            ];
          }),
      );
  // A source's primary past its tolerance (rule D4): reads (an error or the right data), writes
  // (failed, or acknowledged as the mode allows) and time for a CP that cannot commit, then for the
  // last write's answer (A4); then the operator cuts its power and fails it over. (A cut armed at a
  // later media write would rarely fall: a lost volume writes little.)
  const volumeLost = pastTolerance(
    groups.filter((g) => g.group === 'primary'),
    (s, lbas, t, l) => [
      { kind: 'read', source: s, lba: lbas[0]! },
      { kind: 'write', source: s, lba: l },
      { kind: 'tick', ticks: t },
      { kind: 'read', source: s, lba: l },
      { kind: 'write', source: s, lba: lbas[0]! },
      // Past A4's deadline: a write the offline volume took must have been answered by now.
      { kind: 'tick', ticks: answerDeadlineTicks(spec) + spec.ackTimeoutTicks + 3 },
      { kind: 'crash', node: s },
      { kind: 'failover', source: s },
      { kind: 'read', source: s, lba: l },
    ],
  );
  // A mirror on the destination past its tolerance (rule D5): writes, and time for a CP whose CP sync
  // the lost mirror cannot write, for the source's timeout (L2) and the CP's completion unmirrored;
  // more writes and reads past A4's deadline.
  const mirrors = groups.filter((g) => g.node === DESTINATION && g.group.startsWith('mirror:'));
  const mirrorLost = pastTolerance(mirrors, (s, lbas, t, l) => [
    { kind: 'write', source: s, lba: l },
    { kind: 'tick', ticks: t + 2 * spec.ackTimeoutTicks + 2 },
    { kind: 'write', source: s, lba: lbas[0]! },
    { kind: 'read', source: s, lba: l },
    { kind: 'tick', ticks: answerDeadlineTicks(spec) + spec.ackTimeoutTicks + 3 },
    { kind: 'read', source: s, lba: lbas[0]! },
  ]);
  // A latent error where the roots and maps are, time, then the node's scrub (rule D3); once it
  // repaired the error, the node may lose power again, and comes back.
  const scrubbed = fc
    .tuple(
      fc.constantFrom(...groups).chain((g) =>
        fc.record({
          node: fc.constant(g.node),
          group: fc.constant(g.group),
          index: fc.nat({ max: g.disks - 1 }),
          dbn: fc.nat({ max: Math.min(3, g.blocksPerDisk - 1) }),
        }),
      ),
      ticks(0, 6),
    )
    .map(([d, t]): WorldAction[] => [
      { kind: 'latent-error', ...d },
      ...(t > 0 ? [{ kind: 'tick' as const, ticks: t }] : []),
      { kind: 'scrub', node: d.node },
      { kind: 'crash', node: d.node },
      { kind: 'restart', node: d.node },
    ]);
  // A small log file wraps: the link back (a partition healed, the resync done), more sequential
  // writes in sync than its group has blocks, then time for their CPs (each takes a round trip).
  const wrapWrites = logWrapWrites(spec);
  const logWrap = source.map((s): WorldAction[] => [
    { kind: 'heal', source: s },
    { kind: 'speed-up', source: s },
    { kind: 'tick', ticks: spec.cpIntervalTicks + 2 * spec.ackTimeoutTicks + 2 },
    { kind: 'burst', source: s, from: 0, count: wrapWrites ?? 0, stride: 1 },
    { kind: 'tick', ticks: spec.cpIntervalTicks + 2 * (wrapWrites ?? 0) },
  ]);
  // An LBA written, then written again with the same contents: a target that skips an overwrite it
  // takes for a no-op must still keep what each write id was promised.
  const sameAgain = fc
    .tuple(source, lba, ticks(0, 4))
    .map(([s, l, t]): WorldAction[] => [
      { kind: 'write', source: s, lba: l },
      ...(t > 0 ? [{ kind: 'tick' as const, ticks: t }] : []),
      { kind: 'write', source: s, lba: l, data: { kind: 'repeat', back: 1 } },
    ]);
  // Weights measured to lift each situation over 5% of swarm schedules: the resync crash most (its
  // cut misses the resync's few writes about half the time, and a disk fault on the node refuses it).
  return fc.oneof(
    { weight: 12, arbitrary: crashInResync },
    { weight: 1, arbitrary: degraded },
    { weight: 3, arbitrary: rebuildCut },
    { weight: 3, arbitrary: failover },
    ...(dpGroups.length > 0 ? [{ weight: 7, arbitrary: doubleFailure }] : []),
    { weight: 3, arbitrary: scrubbed },
    { weight: 1, arbitrary: sameAgain },
    { weight: 7, arbitrary: volumeLost },
    { weight: 4, arbitrary: degradedCut },
    ...(mirrors.length > 0 ? [{ weight: 4, arbitrary: mirrorLost }] : []),
    ...(wrapWrites !== undefined ? [{ weight: 5, arbitrary: logWrap }] : []),
  );
}

/** A group's fault tolerance in whole disks: 2 for RAID-DP, 1 for RAID-4. */
export function toleranceOf(spec: WorldSpec, g: GroupRef): number {
  const s = spec.sources.find((x) => x.id === g.node || g.group.endsWith(`:${x.id}`))!;
  const geometry = g.group === 'primary' ? s.primary : g.group.startsWith('mirror:') ? s.mirror : s.logFile;
  return toleranceOfLevel(geometry.level);
}

/** The groups, RAID-DP ones first (a focus on one of them can fail two of its disks). */
function byTolerance(groups: readonly GroupRef[], spec: WorldSpec): GroupRef[] {
  return [...groups].sort((a, b) => toleranceOf(spec, b) - toleranceOf(spec, a));
}

export function scheduleArb(options: ScheduleOptions): fc.Arbitrary<Schedule> {
  const mix = options.swarm ? mixArb() : fc.constant(DEFAULT_MIX);
  return fc
    .tuple(configArb(options), mix, fc.integer({ min: 0, max: 0x7fffffff }))
    .chain(([config, m, seed]) =>
      fc
        .array(stepsArb(specOf(config), m), { minLength: 1, maxLength: options.maxSteps, size: 'max' })
        .map((chunks) => ({ config, seed, actions: chunks.flat().slice(0, options.maxSteps) })),
    );
}

/** One draw of a schedule: an action, or a scenario's few. */
function stepsArb(spec: WorldSpec, mix: Mix): fc.Arbitrary<WorldAction[]> {
  const single = actionArb(spec, mix).map((a) => [a]);
  if (mix.scenario === 0) return single;
  return fc.oneof({ weight: 100, arbitrary: single }, { weight: mix.scenario, arbitrary: scenarioArb(spec) });
}

/** The world a schedule runs in. The ack timeout always exceeds the link's longest round trip. */
export function specOf(config: ScheduleConfig): WorldSpec {
  const maxDelay = config.linkFaults?.deliveryDelayTicksMax ?? 1;
  return smallWorld({ ackTimeoutTicks: Math.max(4, 2 * maxDelay + 2), ...config.preset });
}

export interface GroupRef {
  readonly node: NodeId;
  readonly group: string;
  readonly disks: number;
  readonly blocksPerDisk: number;
}

export function groupsOf(spec: WorldSpec): GroupRef[] {
  const out: GroupRef[] = [];
  for (const s of spec.sources) {
    out.push({
      node: s.id,
      group: 'primary',
      disks: disksFor(s.primary),
      blocksPerDisk: s.primary.blocksPerDisk,
    });
    out.push({
      node: 'dst',
      group: `mirror:${s.id}`,
      disks: disksFor(s.mirror),
      blocksPerDisk: s.mirror.blocksPerDisk,
    });
    out.push({
      node: 'dst',
      group: `log:${s.id}`,
      disks: disksFor(s.logFile),
      blocksPerDisk: s.logFile.blocksPerDisk,
    });
  }
  return out;
}

/** A write's data pattern, as a counterexample shows it ('' for fresh data). */
function describePattern(p: DataPattern | undefined): string {
  if (!p) return '';
  if (p.kind === 'zero') return ', zeros';
  const which = p.back === 1 ? 'the previous write' : `the write ${p.back} back`;
  return p.kind === 'repeat' ? `, the data of ${which}` : `, ${which}'s data with byte ${p.byte} changed`;
}

/** One line per action, as a counterexample shows it. */
export function describeAction(a: WorldAction): string {
  switch (a.kind) {
    case 'write':
      return `write ${a.source} lba=${a.lba}${describePattern(a.data)}`;
    case 'read':
      return `${a.kind} ${a.source} lba=${a.lba}`;
    case 'burst': {
      const how =
        a.span !== undefined
          ? `, over ${a.span} LBAs in turn`
          : a.stride === 1
            ? ', sequential'
            : a.stride === 0
              ? ', all to it'
              : `, stride ${a.stride}`;
      return `burst ${a.source} ${a.count} writes from lba=${a.from}${how}${describePattern(a.data)}`;
    }
    case 'tick':
      return `tick ${a.ticks}`;
    case 'partition':
    case 'heal':
    case 'failover':
      return `${a.kind} ${a.source}`;
    case 'crash':
      return a.afterWrites === undefined
        ? `crash ${a.node}`
        : `crash ${a.node} after ${a.afterWrites} media writes${a.torn ? ' (torn)' : ''}`;
    case 'restart':
      return `restart ${a.node}`;
    case 'fail-disk':
      return `${a.kind} ${a.node} ${a.group}[${a.index}]${a.beyond ? ' (past its tolerance)' : ''}`;
    case 'replace-disk':
      return a.cutAfterWrites === undefined
        ? `${a.kind} ${a.node} ${a.group}[${a.index}]`
        : `${a.kind} ${a.node} ${a.group}[${a.index}], power cut after ${a.cutAfterWrites} media writes of the rebuild${a.torn ? ' (torn)' : ''}`;
    case 'scrub':
      return `scrub ${a.node}`;
    case 'latent-error':
      return `latent-error ${a.node} ${a.group}[${a.index}] dbn=${a.dbn}`;
    case 'message-fault':
      return describeMessageFault(a.from, a.to, a.fault);
    case 'slow':
      return `slow ${a.source} ${a.ticks} ticks`;
    case 'speed-up':
      return `speed-up ${a.source}`;
    case 'pause':
      return `pause ${a.node} ${a.ticks} ticks`;
    case 'drift':
      return a.skipEvery === 0
        ? `drift ${a.node} off`
        : `drift ${a.node} skipping every ${a.skipEvery}th tick`;
    case 'out-of-range':
      return `${a.op} ${a.source} lba=${a.lba} (outside the volume)`;
  }
}
