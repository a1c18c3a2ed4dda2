// The schema of a counterexample file (`cpsync replay FILE`), so that a damaged or hand-edited file is
// refused with one line naming the field, before anything runs: every field typed, every number
// bounded, and every action checked against the world the file's own configuration builds (its
// sources, LBAs, RAID groups, disks and blocks). A file's fault is never blamed on the target.

import { z } from 'zod';
import { COUNTEREXAMPLE_FORMAT, type Counterexample } from '../harness/campaign.ts';
import { disksFor } from '../harness/media/geometry.ts';
import { groupsOf, specOf } from '../harness/schedule.ts';
import { DESTINATION } from '../harness/target.ts';
import { UsageError } from './usage_error.ts';

/** Bounds on what a file may ask for: generous beside what campaigns draw, small enough to run. */
export const LIMITS = {
  /** Worlds of the harness have one source, or two (fan-in). */
  sources: 2,
  lbaCount: 1024,
  blockBytesMin: 256,
  blockBytesMax: 8192,
  nvlogHalfEntries: 256,
  /** CP interval, ack timeout and delivery delay, in ticks. */
  timingTicks: 1000,
  actions: 10_000,
  /** One `tick N` action; campaigns draw 1 to 12. */
  ticksPerAction: 1000,
  /** Every tick the file asks for, its liveness phase included. */
  totalTicks: 100_000,
  livenessTicks: 10_000,
  afterWrites: 100_000,
  diskIndex: 255,
  dbn: 1_000_000,
  /** A message fault's delay or stale copy, and the byte a corruption or truncation names. */
  messageFaultTicks: 10_000,
  messageBytes: 1_000_000,
  /** Writes of one burst. */
  burstWrites: 10_000,
} as const;

const int = (min: number, max: number) => z.int().min(min).max(max);
const name = z.string().min(1).max(64);

const preset = z.strictObject({
  sources: int(1, LIMITS.sources).optional(),
  mode: z.enum(['sync', 'strict-sync', 'semi-sync']).optional(),
  blockBytes: int(LIMITS.blockBytesMin, LIMITS.blockBytesMax)
    .refine((n) => n % 8 === 0, 'expected a multiple of 8')
    .optional(),
  lbaCount: int(1, LIMITS.lbaCount).optional(),
  nvlogHalfEntries: int(1, LIMITS.nvlogHalfEntries).optional(),
  cpIntervalTicks: int(1, LIMITS.timingTicks).optional(),
  ackTimeoutTicks: int(1, LIMITS.timingTicks).optional(),
  primaryLevel: z.enum(['raid4', 'raid_dp']).optional(),
  smallLogFile: z.boolean().optional(),
});

const linkFaults = z
  .strictObject({
    deliveryDelayTicksMin: int(1, LIMITS.timingTicks),
    deliveryDelayTicksMax: int(1, LIMITS.timingTicks),
    lossPercent: int(0, 100),
    duplicatePercent: int(0, 100),
    reorderPercent: int(0, 100),
  })
  .refine((f) => f.deliveryDelayTicksMin <= f.deliveryDelayTicksMax, {
    message: 'deliveryDelayTicksMin must not exceed deliveryDelayTicksMax',
    path: ['deliveryDelayTicksMin'],
  });

const disk = { node: name, group: name, index: int(0, LIMITS.diskIndex) };

const messageFault = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('lose') }),
  z.strictObject({ kind: z.literal('duplicate') }),
  z.strictObject({ kind: z.literal('delay'), ticks: int(1, LIMITS.messageFaultTicks) }),
  z.strictObject({ kind: z.literal('stale'), ticks: int(1, LIMITS.messageFaultTicks) }),
  z.strictObject({ kind: z.literal('corrupt'), byte: int(0, LIMITS.messageBytes) }),
  z.strictObject({ kind: z.literal('truncate'), bytes: int(0, LIMITS.messageBytes) }),
]);

/** How a write's data is drawn (harness/write_contents.ts, DataPattern). */
const dataPattern = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('zero') }),
  z.strictObject({ kind: z.literal('repeat'), back: int(1, LIMITS.burstWrites) }),
  z.strictObject({
    kind: z.literal('near'),
    back: int(1, LIMITS.burstWrites),
    byte: int(0, LIMITS.messageBytes),
  }),
]);

/** Every kind of WorldAction (harness/world.ts); cli/bad_input.test.ts keeps the two in step. */
const action = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('write'),
    source: name,
    lba: int(0, LIMITS.lbaCount - 1),
    data: dataPattern.optional(),
  }),
  z.strictObject({ kind: z.literal('read'), source: name, lba: int(0, LIMITS.lbaCount - 1) }),
  z.strictObject({
    kind: z.literal('burst'),
    source: name,
    from: int(0, LIMITS.lbaCount - 1),
    count: int(1, LIMITS.burstWrites),
    stride: int(0, LIMITS.lbaCount),
    span: int(1, LIMITS.lbaCount).optional(),
    data: dataPattern.optional(),
  }),
  z.strictObject({ kind: z.literal('tick'), ticks: int(1, LIMITS.ticksPerAction) }),
  z.strictObject({ kind: z.literal('partition'), source: name }),
  z.strictObject({ kind: z.literal('heal'), source: name }),
  z.strictObject({
    kind: z.literal('crash'),
    node: name,
    afterWrites: int(1, LIMITS.afterWrites).optional(),
    torn: z.boolean().optional(),
  }),
  z.strictObject({ kind: z.literal('restart'), node: name }),
  z.strictObject({ kind: z.literal('fail-disk'), ...disk, beyond: z.boolean().optional() }),
  z.strictObject({ kind: z.literal('latent-error'), ...disk, dbn: int(0, LIMITS.dbn) }),
  z.strictObject({
    kind: z.literal('replace-disk'),
    ...disk,
    cutAfterWrites: int(1, LIMITS.afterWrites).optional(),
    torn: z.boolean().optional(),
  }),
  z.strictObject({ kind: z.literal('scrub'), node: name }),
  z.strictObject({ kind: z.literal('failover'), source: name }),
  z.strictObject({ kind: z.literal('message-fault'), from: name, to: name, fault: messageFault }),
  z.strictObject({ kind: z.literal('slow'), source: name, ticks: int(1, LIMITS.timingTicks) }),
  z.strictObject({ kind: z.literal('speed-up'), source: name }),
  // Rule R2: an LBA outside the volume, on purpose (checked against the volume below).
  z.strictObject({
    kind: z.literal('out-of-range'),
    source: name,
    op: z.enum(['read', 'write']),
    lba: int(0, 0xffff_ffff),
  }),
  z.strictObject({ kind: z.literal('pause'), node: name, ticks: int(1, LIMITS.timingTicks) }),
  z.strictObject({
    kind: z.literal('drift'),
    node: name,
    skipEvery: int(0, LIMITS.timingTicks).refine(
      (n) => n !== 1,
      'skipEvery 1 stops the clock (pause does that)',
    ),
  }),
]);

const schedule = z.strictObject({
  config: z.strictObject({ preset, linkFaults: linkFaults.optional() }),
  seed: int(0, 0xffff_ffff),
  actions: z.array(action).max(LIMITS.actions),
  livenessTicks: int(0, LIMITS.livenessTicks),
});

/** Every field `cpsync check` writes; other fields (a `note`) are kept as they are. */
const counterexample = z.looseObject({
  format: z.literal(COUNTEREXAMPLE_FORMAT),
  cpsyncVersion: z.string(),
  target: z.string().min(1),
  property: z.string().min(1),
  message: z.string(),
  // fast-check's seed: a 32-bit integer, signed or not.
  seed: int(-0x8000_0000, 0xffff_ffff),
  // fast-check's path (numbers and colons), or a word for one written by hand.
  path: z.string(),
  schedule,
  readable: z.array(z.string()),
  lockstep: z.boolean(),
  violationStep: int(0, LIMITS.actions + LIMITS.livenessTicks + 16),
  phase: z.enum(['safety', 'liveness']),
  trace: z.array(z.string()),
});

/** A file's content is not a counterexample, or not a sound one: the message names the field. */
export class CounterexampleError extends UsageError {
  override readonly name = 'CounterexampleError';
}

/** `data` (parsed JSON) as a counterexample, or a CounterexampleError whose message names the field. */
export function parseCounterexample(data: unknown, file: string): Counterexample {
  const format = (data as { format?: unknown } | null)?.format;
  if (typeof data !== 'object' || data === null || Array.isArray(data) || format !== COUNTEREXAMPLE_FORMAT)
    throw new CounterexampleError(
      `${file} is not a cpsync counterexample (no "format": "${COUNTEREXAMPLE_FORMAT}")`,
    );
  const parsed = counterexample.safeParse(data);
  if (!parsed.success) {
    const [first, ...rest] = parsed.error.issues.map((i) => describeIssue(i.path, i.message, data));
    const also =
      rest.length > 0 ? ` (also ${rest.slice(0, 2).join('; ')}${rest.length > 2 ? '; ...' : ''})` : '';
    throw new CounterexampleError(`${file} is a damaged counterexample: ${first}${also}`);
  }
  const problem = worldProblem(parsed.data.schedule);
  if (problem) throw new CounterexampleError(`${file} is a damaged counterexample: ${problem}`);
  return parsed.data as unknown as Counterexample;
}

function describeIssue(path: readonly PropertyKey[], message: string, data: unknown): string {
  const where = fieldName(path);
  const value = valueAt(data, path);
  const got = value === undefined ? '' : `, got ${JSON.stringify(value)?.slice(0, 60)}`;
  // "expected number, received undefined" says less than "missing".
  const said = message.replace(
    /^Invalid input: expected (\w+), received undefined$/,
    'missing (expected $1)',
  );
  return `${where || '(the file)'}: ${said}${got}`;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  // An object or array says little in one line; a scalar says what was wrong.
  return typeof v === 'object' && v !== null ? undefined : v;
}

type ParsedSchedule = z.infer<typeof schedule>;

/**
 * What the schedule asks of the world its configuration builds, checked against that world: a
 * geometry RAID can build, actions naming its sources, nodes, groups, disks, LBAs and blocks, and a
 * bounded number of ticks. Null when sound.
 */
function worldProblem(s: ParsedSchedule): string | null {
  const at = (i: number, field: string) => `schedule.actions[${i}].${field}`;
  let spec: ReturnType<typeof specOf>;
  try {
    spec = specOf(s.config);
    for (const src of spec.sources) for (const g of [src.primary, src.mirror, src.logFile]) disksFor(g);
  } catch (e) {
    return `schedule.config.preset: this preset gives an impossible RAID geometry: ${e instanceof Error ? e.message : String(e)}`;
  }
  const sources = spec.sources.map((x) => x.id);
  const nodes = [...sources, DESTINATION];
  const groups = groupsOf(spec);
  const lbaCount = spec.sources[0]!.lbaCount;
  const oneOf = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');
  let ticks = s.livenessTicks;
  for (const [i, a] of s.actions.entries()) {
    if ('source' in a && !sources.includes(a.source))
      return `${at(i, 'source')}: '${a.source}' is not a source of this world (${oneOf(sources)})`;
    if (a.kind === 'out-of-range' && a.lba < lbaCount)
      return `${at(i, 'lba')}: LBA ${a.lba} is inside the volume (lbaCount ${lbaCount}); an out-of-range request needs one outside it`;
    if ('lba' in a && a.kind !== 'out-of-range' && a.lba >= lbaCount)
      return `${at(i, 'lba')}: LBA ${a.lba} is outside the volume (0 to ${lbaCount - 1}, lbaCount ${lbaCount})`;
    if (a.kind === 'burst' && a.from >= lbaCount)
      return `${at(i, 'from')}: LBA ${a.from} is outside the volume (0 to ${lbaCount - 1}, lbaCount ${lbaCount})`;
    if ('node' in a && !nodes.includes(a.node))
      return `${at(i, 'node')}: '${a.node}' is not a node of this world (${oneOf(nodes)})`;
    if (a.kind === 'message-fault') {
      for (const end of ['from', 'to'] as const)
        if (!nodes.includes(a[end]))
          return `${at(i, end)}: '${a[end]}' is not a node of this world (${oneOf(nodes)})`;
      if (a.from === a.to) return `${at(i, 'to')}: a message goes to another node than '${a.from}'`;
    }
    if ('group' in a) {
      const ofNode = groups.filter((g) => g.node === a.node);
      const g = ofNode.find((x) => x.group === a.group);
      if (!g)
        return `${at(i, 'group')}: ${a.node} has no RAID group '${a.group}' (${oneOf(ofNode.map((x) => x.group))})`;
      if (a.index >= g.disks)
        return `${at(i, 'index')}: ${a.node} ${a.group} has disks 0 to ${g.disks - 1}, not ${a.index}`;
      if ('dbn' in a && a.dbn >= g.blocksPerDisk)
        return `${at(i, 'dbn')}: the disks of ${a.node} ${a.group} have blocks 0 to ${g.blocksPerDisk - 1}, not ${a.dbn}`;
    }
    if (a.kind === 'tick') ticks += a.ticks;
  }
  if (ticks > LIMITS.totalTicks)
    return `schedule.actions: ${ticks} ticks in all (liveness phase included), more than the ${LIMITS.totalTicks} a counterexample may ask for`;
  return null;
}
