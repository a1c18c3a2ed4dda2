// Schedules: what a conformance run makes happen, as plain data (JSON-serialisable, replayable), and
// the fast-check arbitraries that generate them. Swarm testing: each schedule draws its own mix of
// action kinds, so some runs are all partitions, others all crashes, and deep states get reached.

import fc from 'fast-check';
import { disksFor } from './media/geometry.ts';
import { type PresetOptions, smallWorld } from './presets.ts';
import type { LinkFaults, MessageFault } from './sim_network.ts';
import type { Mode, NodeId, WorldSpec } from './target.ts';
import { describeMessageFault, type WorldAction } from './world.ts';

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
    scenario: w(20),
    burst: w(4),
    clock: w(4),
    outOfRange: w(2),
  });
}

export function configArb(options: ScheduleOptions): fc.Arbitrary<ScheduleConfig> {
  return fc.record({
    preset: fc.record({
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
    }),
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
  const diskAndBlock = fc.constantFrom(...groups).chain((g) =>
    fc.record({
      node: fc.constant(g.node),
      group: fc.constant(g.group),
      index: fc.integer({ min: 0, max: g.disks - 1 }),
      // Low DBNs hold the roots, maps and early data: where a latent error matters.
      dbn: fc.integer({ min: 0, max: Math.min(15, g.blocksPerDisk - 1) }),
    }),
  );
  const disk = diskAndBlock.map(({ node, group, index }) => ({ node, group, index }));
  const weighted: { weight: number; arbitrary: fc.Arbitrary<WorldAction> }[] = [
    { weight: mix.write, arbitrary: fc.record({ kind: fc.constant('write' as const), source, lba }) },
    { weight: mix.read, arbitrary: fc.record({ kind: fc.constant('read' as const), source, lba }) },
    {
      weight: mix.burst,
      arbitrary: fc.oneof(
        // Fill the volume, in order: the live image spans every stripe.
        fc.record({
          kind: fc.constant('burst' as const),
          source,
          from: fc.constant(0),
          count: fc.constant(lbaCount),
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
      ),
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
  // time a source's primary, and the read is that source's: served by the degraded group.
  const degraded = fc
    .tuple(fc.oneof(primaryDisk, disk), source, lba, ticks(1, 12))
    .map(([d, s, l, t]): WorldAction[] => [
      { kind: 'fail-disk', ...d },
      { kind: 'read', source: d.group === 'primary' ? d.node : s, lba: l },
      { kind: 'tick', ticks: t },
      { kind: 'replace-disk', ...d },
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
  // The resync crash twice as often: its cut misses the resync's few writes about half the time.
  return fc.oneof(
    { weight: 2, arbitrary: crashInResync },
    { weight: 1, arbitrary: degraded },
    { weight: 1, arbitrary: failover },
  );
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

/** One line per action, as a counterexample shows it. */
export function describeAction(a: WorldAction): string {
  switch (a.kind) {
    case 'write':
    case 'read':
      return `${a.kind} ${a.source} lba=${a.lba}`;
    case 'burst':
      return `burst ${a.source} ${a.count} writes from lba=${a.from}${a.stride === 1 ? ', sequential' : a.stride === 0 ? ', all to it' : `, stride ${a.stride}`}`;
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
    case 'replace-disk':
      return `${a.kind} ${a.node} ${a.group}[${a.index}]`;
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
