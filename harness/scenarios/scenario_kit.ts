// Shared steps and checks of the scenario tests: build a small world, run it until a condition holds,
// and judge it through the conformance-target interface only (mirror equality, lost writes, the wire).

import { expect } from 'vitest';
import { type CpSyncMessage, decodeMessage, type Message, WireError } from '../../impl/wire.ts';
import { compareMirror, sameBytes } from '../mirror_compare.ts';
import { type PresetOptions, smallWorld } from '../presets.ts';
import type { ConformanceTarget, NodeId, SourceObservation } from '../target.ts';
import { World } from '../world.ts';
import { identify, writeIdOf } from '../write_identity.ts';

export interface ScenarioOptions extends PresetOptions {
  readonly seed: number;
  readonly target: ConformanceTarget;
  readonly linkFaults?: ConstructorParameters<typeof World>[0]['linkFaults'];
}

/** A small-preset world that records every delivered message, for the wire counts. */
export function scenarioWorld(options: ScenarioOptions): World {
  const { seed, target, linkFaults, ...preset } = options;
  return new World({
    spec: smallWorld(preset),
    target,
    seed,
    recordDeliveries: true,
    ...(linkFaults ? { linkFaults } : {}),
  });
}

export function lbaCountOf(world: World, source: NodeId): number {
  const spec = world.spec.sources.find((s) => s.id === source);
  if (!spec) throw new RangeError(`no source ${source}`);
  return spec.lbaCount;
}

export function sourceObs(world: World, source: NodeId): SourceObservation {
  const obs = world.observe().sources[source];
  if (!obs) throw new RangeError(`no source ${source}`);
  return obs;
}

/** The last lines of the trace, to read with a failure: how the run got there. */
export function traceTail(world: World, lines = 40): string {
  return `seed ${world.seed}, tick ${world.now}; last trace lines:\n${world.trace.slice(-lines).join('\n')}`;
}

/**
 * Ticks one at a time until `done` holds; fails (with the trace tail) after `maxTicks`. Returns the
 * ticks it took. `each` runs after every tick: a per-step invariant check.
 */
export function tickUntil(
  world: World,
  done: () => boolean,
  maxTicks: number,
  what: string,
  each?: () => void,
): number {
  for (let t = 0; t < maxTicks; t++) {
    if (done()) return t;
    world.step({ kind: 'tick', ticks: 1 });
    each?.();
  }
  if (done()) return maxTicks;
  throw new Error(`not ${what} after ${maxTicks} ticks; ${traceTail(world)}`);
}

/** In sync, both sides on the same CP, no CP in flight, no client waiting. */
export function settled(world: World, source: NodeId): boolean {
  const o = sourceObs(world, source);
  return (
    o.up &&
    world.observe().destinationUp &&
    o.relationship === 'in-sync' &&
    !o.cpInProgress &&
    o.pendingWrites === 0 &&
    o.primaryCp === o.mirrorCp
  );
}

/** Ticks until the next CP of `source` is committed on both sides and confirmed. */
export function runCp(
  world: World,
  source: NodeId,
  each?: () => void,
  maxTicks = 3 * world.spec.cpIntervalTicks,
): void {
  const before = sourceObs(world, source).mirrorCp;
  tickUntil(
    world,
    () => settled(world, source) && sourceObs(world, source).mirrorCp > before,
    maxTicks,
    `${source}: a CP after ${before} committed on both sides`,
    each,
  );
}

/** Write identities of a committed image by LBA: 0 never written, -1 not a whole write. */
export function primaryImage(world: World, source: NodeId): number[] {
  const n = lbaCountOf(world, source);
  return Array.from({ length: n }, (_, lba) => writeIdOf(world.instance.readPrimaryCommitted(source, lba)));
}

export function mirrorImage(world: World, source: NodeId): number[] {
  const n = lbaCountOf(world, source);
  return Array.from({ length: n }, (_, lba) => writeIdOf(world.instance.readMirrorCommitted(source, lba)));
}

/**
 * The mirror equals the primary block for block by VBN (same live VBNs, same bytes) and by LBA, both
 * sides are at the same CP, and every block either side holds is a whole write of this source at that
 * LBA (or never written).
 */
export function expectMirrorEqualsPrimary(world: World, source: NodeId): void {
  const o = sourceObs(world, source);
  expect(o.mirrorCp, `${source}: mirror CP = primary CP (${traceTail(world, 10)})`).toBe(o.primaryCp);
  const diff = compareMirror(world.instance, source, lbaCountOf(world, source));
  if (diff.vbns.length > 0 || diff.lbas.length > 0)
    expect(diff, `${source}: mirror differs from primary; ${traceTail(world, 10)}`).toEqual({
      vbns: [],
      lbas: [],
    });
  const live = world.instance.liveVbns(source, 'primary');
  expect(live).toEqual(world.instance.liveVbns(source, 'mirror'));
  // At least the root slot: the comparison above covered a real image.
  expect(live.length).toBeGreaterThanOrEqual(1);
  expect(misplacedWrites(world, source, primaryImage(world, source)), `${source}: primary`).toEqual([]);
}

/**
 * The LBAs of `image` (write ids by LBA) that hold something other than a whole write the world issued
 * to `source` at that LBA (or zeros), each described; empty when every block is in its place.
 */
export function misplacedWrites(world: World, source: NodeId, image: readonly number[]): string[] {
  const problems: string[] = [];
  image.forEach((id, lba) => {
    if (id === 0) return;
    const record = id > 0 ? world.writeRecord(id) : undefined;
    if (!record) problems.push(`LBA ${lba}: ${id < 0 ? 'not a whole write' : `write ${id} never issued`}`);
    else if (record.source !== source || record.lba !== lba)
      problems.push(`LBA ${lba}: write ${id} was for ${record.source} LBA ${record.lba}`);
  });
  return problems;
}

/** The latest write to (source, lba) acknowledged ok, by write id: 0 when none was. */
export function latestAcked(world: World, source: NodeId, lba: number): number {
  let latest = 0;
  for (const w of world.writes)
    if (w.source === source && w.lba === lba && w.outcome?.ok === true) latest = Math.max(latest, w.writeId);
  return latest;
}

/**
 * No acknowledged write is lost: at every LBA, `holds(lba)` is the latest acknowledged write there, or
 * a write to that LBA issued after it (one still waiting, or whose outcome the protocol leaves open).
 * Returns how many LBAs hold an acknowledged write, so a caller can check the check was not vacuous.
 */
export function expectNoAckedWriteLost(
  world: World,
  source: NodeId,
  holds: (lba: number) => number,
  where: string,
): number {
  const n = lbaCountOf(world, source);
  const acked = new Array<number>(n).fill(0);
  for (const w of world.writes)
    if (w.source === source && w.outcome?.ok === true) acked[w.lba] = Math.max(acked[w.lba]!, w.writeId);
  const image = Array.from({ length: n }, (_, lba) => holds(lba));
  const problems = misplacedWrites(world, source, image);
  image.forEach((id, lba) => {
    if (id < acked[lba]!) problems.push(`LBA ${lba} lost acknowledged write ${acked[lba]} (holds ${id})`);
  });
  if (problems.length > 0)
    expect(
      problems,
      `${where}: ${source}: ${problems[0]} (and ${problems.length - 1} more); ${traceTail(world, 15)}`,
    ).toEqual([]);
  return acked.filter((id) => id > 0).length;
}

/** Reads every LBA with the world's 'read' action (routed as a client's read would be): write ids. */
export function clientReadAll(world: World, source: NodeId): number[] {
  const ids: number[] = [];
  for (let lba = 0; lba < lbaCountOf(world, source); lba++) {
    world.step({ kind: 'read', source, lba });
    const r = world.reads.at(-1)!;
    expect(r.result.ok, `read ${source} LBA ${lba}: ${r.result.ok ? '' : r.result.error}`).toBe(true);
    ids.push(r.result.ok ? writeIdOf(r.result.data) : -1);
  }
  return ids;
}

/**
 * The world's deliveries since index `since`, decoded with the reference's wire format (these scenarios
 * and tests drive targets on it), optionally only those from `from`; bytes that are not a message (a
 * corrupted or truncated delivery) are left out.
 */
export function decodedDeliveries(world: World, from?: NodeId, since = 0): Message[] {
  const out: Message[] = [];
  for (const d of world.deliveries.slice(since)) {
    if (from !== undefined && d.from !== from) continue;
    const message = decodeMessage(d.bytes);
    if (!(message instanceof WireError)) out.push(message);
  }
  return out;
}

/** Messages delivered so far (decoded), optionally only those from `from`. */
export function delivered(world: World, from?: NodeId): Message[] {
  return decodedDeliveries(world, from);
}

/** CP syncs `source` delivered to the destination since delivery index `since`. */
export function cpSyncsDelivered(world: World, source: NodeId, since = 0): CpSyncMessage[] {
  return decodedDeliveries(world, source, since).filter((m): m is CpSyncMessage => m.kind === 'cp-sync');
}

/** The distinct LBAs of `source` written (issued, not failed at once) with write ids in (afterId, upToId]. */
export function distinctLbasWritten(
  world: World,
  source: NodeId,
  afterId: number,
  upToId = Number.POSITIVE_INFINITY,
  accepted: (id: number) => boolean = () => true,
): number {
  const lbas = new Set<number>();
  for (const w of world.writes)
    if (w.source === source && w.writeId > afterId && w.writeId <= upToId && accepted(w.writeId))
      lbas.add(w.lba);
  return lbas.size;
}

/** Issues `lbas.length` client writes to `source`; returns their write ids. */
export function writeAll(world: World, source: NodeId, lbas: readonly number[]): number[] {
  return lbas.map((lba) => {
    world.step({ kind: 'write', source, lba });
    return world.writes.at(-1)!.writeId;
  });
}

/** The log file's records as (seq, write id, lba), each checked to be a whole write of its LBA. */
export function logFileIds(world: World, source: NodeId): { seq: number; writeId: number; lba: number }[] {
  return world.instance.logFile(source).map((r) => {
    const id = identify(r.data);
    expect(id.kind, `${source} log seq ${r.seq}: not a whole write`).toBe('write');
    const writeId = id.kind === 'write' ? id.writeId : -1;
    expect(id.kind === 'write' ? id.lba : -1, `${source} log seq ${r.seq}: data of another LBA`).toBe(r.lba);
    return { seq: r.seq, writeId, lba: r.lba };
  });
}

/** Media writes `node` issues while `run` runs (power.writes counts from the last restore). */
export function mediaWritesDuring(world: World, node: NodeId, run: () => void): number {
  const before = world.media[node]!.power.writes;
  run();
  return world.media[node]!.power.writes - before;
}

/** Where on the disks of `node`'s `group` a block with exactly these bytes is stored: "disk:dbn" each. */
export function placesOnDisks(world: World, node: NodeId, group: string, data: Uint8Array): string[] {
  const places: string[] = [];
  world.media[node]!.groups[group]!.forEach((disk, index) => {
    if (disk.isFailed) return;
    for (const dbn of disk.storedDbns()) {
      const stored = disk.read(dbn).data;
      if (stored.length === data.length && stored.every((b, i) => b === data[i]))
        places.push(`${index}:${dbn}`);
    }
  });
  return places;
}

/** `source` stays in sync for `ticks` ticks (no spurious timeout): checked after every tick. */
export function expectStaysInSync(world: World, source: NodeId, ticks: number): void {
  for (let t = 0; t < ticks; t++) {
    world.step({ kind: 'tick', ticks: 1 });
    const o = sourceObs(world, source);
    expect(o.relationship, `${source} fell out of sync; ${traceTail(world, 20)}`).toBe('in-sync');
  }
}

/**
 * Strict-sync's promise, checked as it happens: a write acknowledged ok is on the destination at that
 * moment, in the source's log file or under the mirror's committed image (its LBA holds it or a later
 * write of the same LBA). Call check() after every step; it looks at the writes acknowledged since.
 */
export class MirroredAckAudit {
  private readonly audited = new Set<number>();

  constructor(
    private readonly world: World,
    private readonly source: NodeId,
  ) {}

  /** Acknowledgements checked so far: a test asserts it is not zero. */
  get checked(): number {
    return this.audited.size;
  }

  check(): void {
    const fresh = this.world.writes.filter(
      (w) => w.source === this.source && w.outcome?.ok === true && !this.audited.has(w.writeId),
    );
    if (fresh.length === 0) return;
    const logged = new Set(logFileIds(this.world, this.source).map((r) => r.writeId));
    const mirror = mirrorImage(this.world, this.source);
    for (const w of fresh) {
      this.audited.add(w.writeId);
      // A later write of the same LBA in the mirror means a committed CP covered this one.
      const onDestination = logged.has(w.writeId) || mirror[w.lba]! >= w.writeId;
      expect(onDestination, `write ${w.writeId} acknowledged unmirrored; ${traceTail(this.world, 20)}`).toBe(
        true,
      );
    }
  }
}

/** A committed image block for block: its live VBNs and their bytes, on one side. */
export function imageBlocks(
  world: World,
  source: NodeId,
  side: 'primary' | 'mirror',
): Map<number, Uint8Array> {
  const blocks = new Map<number, Uint8Array>();
  for (const vbn of world.instance.liveVbns(source, side))
    blocks.set(vbn, world.instance.readVbn(source, side, vbn));
  return blocks;
}

/** The VBNs where two block images differ (live in one only, or other bytes): empty when equal. */
export function differingVbns(
  a: ReadonlyMap<number, Uint8Array>,
  b: ReadonlyMap<number, Uint8Array>,
): number[] {
  const vbns = new Set([...a.keys(), ...b.keys()]);
  return [...vbns].filter((vbn) => {
    const x = a.get(vbn);
    const y = b.get(vbn);
    return x === undefined || y === undefined || !sameBytes(x, y);
  });
}
