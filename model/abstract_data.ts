// The data the protocol implies, on write identities instead of 4 KiB buffers: each write's fate, the
// image of each committed CP (LBA -> writeId), and what a read, the log file and a promoted mirror must hold.
//
// An image maps an LBA to the content class its block holds (harness/write_contents.ts): the id of the
// first write that carried those bytes (for fresh data, the write's own id), 0 for the all-zero block
// (never written, or written with zeros), -1 for a torn or foreign block; an LBA missing from the map
// holds 0. A write records its class when its data repeats another's; a block of a class may be any
// write of that class to its LBA, and every check accepts it when one of them would pass (identical
// contents cannot be told apart). Checks return null or a violation message.
//
// The central notion is the cut: a consistent image holds, at every LBA, the latest write to that LBA
// among some prefix of the accepted writes (positions 1..k). Writes whose fate is open may be missing
// from it without breaking the cut: failed ones (strict-sync failures are indeterminate) and those in
// doubt (pending when the source crashed). `cutRange` finds every k that explains an image.

import { assert } from '../harness/media/errors.ts';
import type { LogRecord, Mode, NodeId } from '../harness/target.ts';
import { writeIdOf } from '../harness/write_identity.ts';
import type { RelationshipRegionState } from './statechart.ts';

export type Image = ReadonlyMap<number, number>;

export type WriteFate = 'pending' | 'acked' | 'failed' | 'in-doubt';

/** How a write was answered: what the model knew when the ack or failure was seen. */
export interface AnswerContext {
  readonly mode: Mode;
  readonly relationship: RelationshipRegionState;
  /** Its log entry may have reached the destination (the model's `mirrored` flag). */
  readonly mirrored: boolean;
  /** Answered by the promoted mirror after failover. */
  readonly promoted: boolean;
  /** Answered by a source whose volume was lost (rule D4): it may fail any write. */
  readonly volumeLost?: boolean;
}

export interface WriteRecord {
  readonly writeId: number;
  readonly lba: number;
  readonly fate: WriteFate;
  readonly answer?: AnswerContext;
  /** Must survive a failover: acknowledged in sync or strict-sync mode while in sync, or since resynced. */
  readonly guaranteed: boolean;
  /** Accepted by a strict-sync source not in sync: it may be refused without taking an NVLOG entry. */
  readonly refusable?: boolean;
  /** Its data's content class when it is not the write's own fresh block: an earlier write's id, or 0 for zeros. */
  readonly content?: number;
}

/** The content class a write's block reads as. */
export const contentOf = (w: WriteRecord): number => w.content ?? w.writeId;

/** When the current (or last) CP started: the step's tick, and the writes accepted before and during it. */
export interface CpStart {
  readonly tick: number;
  /** Writes accepted before the step in which the CP started: CP images hold at least these (rule N2). */
  readonly lo: number;
  /** Writes accepted by the end of that step's own write: CP images hold none after these. */
  readonly hi: number;
}

/** The prefixes 1..k of the accepted writes (k in [lo, hi]) that explain an image. */
export interface CutRange {
  readonly lo: number;
  readonly hi: number;
}

export interface RecordedImage {
  readonly image: Image;
  /** null when the image is no consistent cut; `violation` says why. */
  readonly cut: CutRange | null;
  readonly violation: string | null;
}

/** Facts that `sometimes` properties look for: interesting things that really happened. */
export interface Milestones {
  readonly cpCompletedAloneInPartition: number;
  readonly resyncsCompleted: number;
}

export interface AbstractData {
  /** Every write accepted from a client, in acceptance order (position = index + 1). */
  readonly writes: readonly WriteRecord[];
  /** How many writes were accepted when the current (or last) CP started: its ideal cut. */
  readonly cpStartCut: number;
  readonly primaryImages: ReadonlyMap<number, RecordedImage>;
  readonly mirrorImages: ReadonlyMap<number, RecordedImage>;
  /** How many writes were accepted when the destination was promoted; null before failover. */
  readonly failoverCut: number | null;
  readonly promoted: RecordedImage | null;
  readonly milestones: Milestones;
  /** The step being judged: its tick and the writes accepted before it (lockstep.ts, `beginStep`). */
  readonly clock: { readonly tick: number; readonly writesBefore: number };
  readonly cpStart: CpStart;
  /** The tick the last CP completed (-1: none yet). */
  readonly cpCompletedTick: number;
  /** The tick the CP timer counts from: the last CP start or the source's restart. */
  readonly timerTick: number;
  /** The cut of the newest primary CP image the harness read (rule N2's floor for the next one). */
  readonly lastPrimaryCut: CutRange;
  /** Writes accepted before the step in which the last resync began (`guaranteeAcknowledged`). */
  readonly resyncFrom: number;
  /** Some accepted write repeats contents (`content`): a block may then be one of several writes. */
  readonly sharedContents?: boolean;
}

export const EMPTY_IMAGE: Image = new Map();

export function emptyData(): AbstractData {
  return {
    writes: [],
    cpStartCut: 0,
    primaryImages: new Map(),
    mirrorImages: new Map(),
    failoverCut: null,
    promoted: null,
    milestones: { cpCompletedAloneInPartition: 0, resyncsCompleted: 0 },
    clock: { tick: 0, writesBefore: 0 },
    cpStart: { tick: 0, lo: 0, hi: 0 },
    cpCompletedTick: -1,
    timerTick: 0,
    lastPrimaryCut: { lo: 0, hi: 0 },
    resyncFrom: 0,
  };
}

/** The relationship began a resync: its transfer covers at least the writes accepted before this step. */
export function beginResync(data: AbstractData): AbstractData {
  return { ...data, resyncFrom: data.clock.writesBefore };
}

/** A new step begins at `tick`: what the CP rules count from. */
export function beginStep(data: AbstractData, tick: number): AbstractData {
  if (data.clock.tick === tick && data.clock.writesBefore === data.writes.length) return data;
  return { ...data, clock: { tick, writesBefore: data.writes.length } };
}

// Updates: each returns new data and leaves its argument untouched.

export function acceptWrite(
  data: AbstractData,
  writeId: number,
  lba: number,
  refusable = false,
  content: number = writeId,
): AbstractData {
  // Accepted in issue order, so `writes` is sorted by write id and `writeIndex` can search it.
  const last = data.writes[data.writes.length - 1];
  assert(last === undefined || writeId > last.writeId, 'writes are accepted in issue order');
  const shared = content !== writeId;
  const record: WriteRecord = {
    writeId,
    lba,
    fate: 'pending',
    guaranteed: false,
    ...(refusable ? { refusable } : {}),
    ...(shared ? { content } : {}),
  };
  return {
    ...data,
    writes: [...data.writes, record],
    ...(shared && !data.sharedContents ? { sharedContents: true } : {}),
  };
}

/** Where write `writeId` is in `data.writes` (undefined: never accepted): a binary search by id. */
export function writeIndex(data: AbstractData, writeId: number): number | undefined {
  const writes = data.writes;
  let lo = 0;
  let hi = writes.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const id = writes[mid]!.writeId;
    if (id === writeId) return mid;
    if (id < writeId) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

function updateWrite(data: AbstractData, writeId: number, f: (w: WriteRecord) => WriteRecord): AbstractData {
  const i = writeIndex(data, writeId);
  const w = i === undefined ? undefined : data.writes[i];
  if (i === undefined || w === undefined) return data;
  const writes = data.writes.slice();
  writes[i] = f(w);
  return { ...data, writes };
}

export function answerWrite(
  data: AbstractData,
  writeId: number,
  ok: boolean,
  answer: AnswerContext,
): AbstractData {
  const guaranteed =
    ok && !answer.promoted && answer.mode !== 'semi-sync' && answer.relationship === 'inSync';
  return updateWrite(data, writeId, (w) => ({ ...w, fate: ok ? 'acked' : 'failed', answer, guaranteed }));
}

/** The source lost its memory: writes it had not answered will never be answered; their fate is open. */
export function putInDoubt(data: AbstractData, writeIds: readonly number[]): AbstractData {
  return writeIds.reduce((d, id) => updateWrite(d, id, (w) => ({ ...w, fate: 'in-doubt' })), data);
}

/**
 * Back in sync after a resync: the destination holds everything the source held, so every write
 * acknowledged in sync or strict-sync mode, out of sync included, must now survive a failover.
 */
export function guaranteeAcknowledged(data: AbstractData, mode: Mode): AbstractData {
  if (mode === 'semi-sync') return data;
  // Only what the resync's transfer covered: writes accepted before the step in which it began. Later
  // ones were acknowledged out of sync and their entries follow the transfer, where they may be lost.
  const writes = data.writes.map((w, i) =>
    i < data.resyncFrom && w.fate === 'acked' && !w.guaranteed && w.answer?.promoted !== true
      ? { ...w, guaranteed: true }
      : w,
  );
  return { ...data, writes };
}

export function startCp(data: AbstractData): AbstractData {
  const lo = Math.min(data.clock.writesBefore, data.writes.length);
  const cpStart = { tick: data.clock.tick, lo, hi: data.writes.length };
  return { ...data, cpStartCut: data.writes.length, cpStart, timerTick: data.clock.tick };
}

export function completeCp(data: AbstractData): AbstractData {
  return { ...data, cpCompletedTick: data.clock.tick };
}

/** The source restarted: its CP timer counts from now. */
export function restartTimer(data: AbstractData): AbstractData {
  return { ...data, timerTick: data.clock.tick };
}

/**
 * NVLOG entries taken by the writes at positions (from, to]: every write but those failed or that a
 * strict-sync source out of sync may have refused (a lower bound: a failed write may have had one).
 */
export function entriesBetween(data: AbstractData, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const w = data.writes[i]!;
    if (w.fate !== 'failed' && w.fate !== 'in-doubt' && w.refusable !== true) n++;
  }
  return n;
}

export function noteMilestone(data: AbstractData, key: keyof Milestones): AbstractData {
  return { ...data, milestones: { ...data.milestones, [key]: data.milestones[key] + 1 } };
}

// Cuts.

/** A write whose absence from an image is no violation: its outcome was never settled as done. */
type Optional = (w: WriteRecord) => boolean;

/** For CP images: only failed and in-doubt writes may be missing (pending ones are in the NVLOG, in order). */
const optionalInCp: Optional = (w) => w.fate === 'failed' || w.fate === 'in-doubt';
/** For reads and promoted images: only acknowledged writes are settled. */
const optionalUnlessAcked: Optional = (w) => w.fate !== 'acked';

function positionsByLba(writes: readonly WriteRecord[], limit: number): Map<number, number[]> {
  const byLba = new Map<number, number[]>();
  for (let i = 0; i < limit; i++) {
    const w = writes[i]!;
    const list = byLba.get(w.lba);
    if (list) list.push(i + 1);
    else byLba.set(w.lba, [i + 1]);
  }
  return byLba;
}

/** The position of the block at `lba` (0 for never written) or why it cannot be one. */
function positionOf(data: AbstractData, lba: number, writeId: number, limit: number): number | string {
  if (writeId === 0) return 0;
  if (writeId === -1) return `LBA ${lba} holds a torn or foreign block, not a whole write`;
  const i = writeIndex(data, writeId);
  if (i === undefined || i >= limit)
    return `LBA ${lba} holds write ${writeId}, which was not accepted before`;
  const w = data.writes[i]!;
  if (w.lba !== lba) return `LBA ${lba} holds write ${writeId}, which was written to LBA ${w.lba}`;
  return i + 1;
}

/**
 * Every position the block of class `cls` at `lba` may be, ascending (0: never written, for the zero
 * block), among the first `limit` writes whose positions at `lba` are `positions`; or why it is none.
 * Without shared contents that is positionOf's one position.
 */
function positionsOf(
  data: AbstractData,
  lba: number,
  cls: number,
  limit: number,
  positions: readonly number[],
): number[] | string {
  if (!data.sharedContents) {
    const p = positionOf(data, lba, cls, limit);
    return typeof p === 'string' ? p : [p];
  }
  if (cls === -1) return positionOf(data, lba, cls, limit) as string;
  const out = cls === 0 ? [0] : [];
  for (const q of positions) if (q <= limit && contentOf(data.writes[q - 1]!) === cls) out.push(q);
  if (out.length > 0) return out;
  const i = writeIndex(data, cls);
  if (i === undefined || i >= limit) return `LBA ${lba} holds write ${cls}, which was not accepted before`;
  return `LBA ${lba} holds the data of write ${cls}, which no write to LBA ${lba} carried`;
}

/**
 * Every prefix length k for which the write at position `p` (0: none) is still the latest among
 * `positions` (one LBA's writes) up to k: until the next write to that LBA that may not be skipped.
 */
function lbaRange(
  data: AbstractData,
  positions: readonly number[],
  p: number,
  limit: number,
  optional: Optional,
): CutRange {
  const next = positions.find((q) => q > p && !optional(data.writes[q - 1]!));
  return { lo: p, hi: next === undefined ? limit : next - 1 };
}

/**
 * The cut that explains `image` over the first `limit` accepted writes: every k with which each LBA
 * holds the latest write to it among positions 1..k (optional writes may be skipped). A message when
 * no k does: the image is a mixture, or holds a block no accepted write explains.
 */
export function cutRange(
  data: AbstractData,
  image: Image,
  limit = data.writes.length,
  optional: Optional = optionalInCp,
): CutRange | string {
  const byLba = positionsByLba(data.writes, limit);
  const lbas = new Set([...image.keys(), ...byLba.keys()]);
  let lo = { k: 0, lba: -1 };
  let hi = { k: limit, lba: -1 };
  // LBAs whose block may be one of several writes (identical contents): each allows a union of ranges.
  const several: { lba: number; ranges: CutRange[] }[] = [];
  for (const lba of lbas) {
    const positions = byLba.get(lba) ?? [];
    const ps = positionsOf(data, lba, image.get(lba) ?? 0, limit, positions);
    if (typeof ps === 'string') return ps;
    if (ps.length > 1) {
      several.push({ lba, ranges: ps.map((p) => lbaRange(data, positions, p, limit, optional)) });
      continue;
    }
    const r = lbaRange(data, positions, ps[0]!, limit, optional);
    if (r.lo > lo.k) lo = { k: r.lo, lba };
    if (r.hi < hi.k) hi = { k: r.hi, lba };
  }
  if (lo.k > hi.k) return mixtureMessage(data, image, lo, hi);
  if (several.length === 0) return { lo: lo.k, hi: hi.k };
  return intersectSeveral(image, { lo: lo.k, hi: hi.k }, several);
}

/** Disjoint intervals covering `ranges`, ascending: intersections stay as few as the ranges. */
function merged(ranges: CutRange[]): CutRange[] {
  const sorted = ranges.slice().sort((a, b) => a.lo - b.lo);
  const out: CutRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.lo <= last.hi + 1) out[out.length - 1] = { lo: last.lo, hi: Math.max(last.hi, r.hi) };
    else out.push(r);
  }
  return out;
}

/**
 * The cuts that LBAs of several possible writes leave of `range`, as its hull (a later check needs
 * only the lowest and highest: a hull never raises an alarm a precise set would not).
 */
function intersectSeveral(
  image: Image,
  range: CutRange,
  several: readonly { lba: number; ranges: CutRange[] }[],
): CutRange | string {
  let cuts: CutRange[] = [range];
  for (const { lba, ranges } of several) {
    const next: CutRange[] = [];
    for (const a of cuts)
      for (const b of ranges) {
        const r = { lo: Math.max(a.lo, b.lo), hi: Math.min(a.hi, b.hi) };
        if (r.lo <= r.hi) next.push(r);
      }
    if (next.length === 0)
      return `a mixture, not a CP image: LBA ${lba} holds the data of write ${image.get(lba) ?? 0}, and no write to it with that data fits a cut the other LBAs allow`;
    cuts = merged(next);
  }
  return { lo: Math.min(...cuts.map((c) => c.lo)), hi: Math.max(...cuts.map((c) => c.hi)) };
}

function mixtureMessage(
  data: AbstractData,
  image: Image,
  lo: { k: number; lba: number },
  hi: { k: number; lba: number },
): string {
  const later = data.writes[hi.k]; // position hi.k + 1: the write the second LBA's block excludes
  return (
    `a mixture, not a CP image: LBA ${lo.lba} holds write ${image.get(lo.lba) ?? 0} (accepted ${ordinal(lo.k)}), ` +
    `but LBA ${hi.lba} holds write ${image.get(hi.lba) ?? 0}, older than write ${later?.writeId ?? '?'} ` +
    `(accepted ${ordinal(hi.k + 1)}) that an image with the first must hold`
  );
}

const ordinal = (k: number): string => `#${k}`;

/** The image of the first `cut` accepted writes, leaving out those whose outcome is open. */
export function idealImage(data: AbstractData, cut: number): Image {
  const image = new Map<number, number>();
  for (const w of data.writes.slice(0, cut))
    if (!optionalInCp(w)) {
      if (contentOf(w) === 0) image.delete(w.lba);
      else image.set(w.lba, contentOf(w));
    }
  return image;
}

function recorded(data: AbstractData, image: Image, limit?: number, optional?: Optional): RecordedImage {
  const cut = cutRange(data, image, limit, optional);
  return typeof cut === 'string' ? { image, cut: null, violation: cut } : { image, cut, violation: null };
}

export interface Recorded {
  readonly data: AbstractData;
  readonly violation: string | null;
}

/**
 * The source committed CP `cp` and the harness read its image (the ideal image without a target). It
 * must be a consistent cut, and no older than the previous CP's: a CP never goes back in time.
 */
export function recordPrimaryImage(data: AbstractData, cp: number, image: Image): Recorded {
  const r = recorded(data, image);
  const primaryImages = new Map(data.primaryImages).set(cp, r);
  // Against the newest earlier CP whose image is known (a CP between may have gone unseen).
  const earlier = [...data.primaryImages.keys()].filter((k) => k < cp);
  const before = earlier.length > 0 ? Math.max(...earlier) : undefined;
  const previous = before === undefined ? undefined : data.primaryImages.get(before)?.cut;
  const regress =
    r.cut && previous && r.cut.hi < previous.lo
      ? `CP ${cp} is older than CP ${before}: it misses writes up to #${previous.lo} that CP ${before} holds`
      : null;
  const next = { ...data, primaryImages, ...(r.cut ? { lastPrimaryCut: r.cut } : {}) };
  return { data: next, violation: prefix(`primary CP ${cp}`, r.violation ?? regress) };
}

/**
 * Rule N2: CP `cp`'s image (just recorded) holds every write logged before the step in which the CP
 * started and none accepted after that step. Writes stalled by back-pressure were not logged: at most
 * `halfEntries` entries fit after the previous CP's cut, so the floor is the lower of the two. `previous`
 * is the previous CP's cut. Null, or a message in the target's terms.
 */
export function checkCpHolds(
  data: AbstractData,
  cp: number,
  previous: CutRange,
  halfEntries: number,
): string | null {
  const cut = data.primaryImages.get(cp)?.cut;
  if (!cut) return null;
  const start = data.cpStart;
  const floor = Math.min(start.lo, previous.lo + halfEntries);
  const describe = (position: number) => {
    const w = data.writes[position - 1]!;
    return `write ${w.writeId} (LBA ${w.lba}, accepted ${ordinal(position)})`;
  };
  if (cut.hi < floor)
    return `primary CP ${cp} misses ${describe(cut.hi + 1)}, logged before the step in which CP ${cp} started (tick ${start.tick})`;
  if (cut.lo > start.hi)
    return `primary CP ${cp} holds ${describe(cut.lo)}, accepted after the step in which CP ${cp} started (tick ${start.tick})`;
  return null;
}

/** The source committed CP `cp` and its image is unknown (harness-read images, several CPs in one step). */
export function forgetPrimaryImage(data: AbstractData, cp: number): AbstractData {
  if (!data.primaryImages.has(cp)) return data;
  const primaryImages = new Map(data.primaryImages);
  primaryImages.delete(cp);
  return { ...data, primaryImages };
}

/** The mirror committed CP `cp`: the same image the primary committed as CP `cp`, block for block by LBA. */
export function recordMirrorImage(data: AbstractData, cp: number, image: Image): Recorded {
  const r = recorded(data, image);
  const mirrorImages = new Map(data.mirrorImages).set(cp, r);
  const primary = data.primaryImages.get(cp)?.image;
  const differs = primary ? checkMirrorEqualsPrimary(primary, image) : null;
  return { data: { ...data, mirrorImages }, violation: prefix(`mirror CP ${cp}`, r.violation ?? differs) };
}

/** The destination was promoted: the writes accepted so far are what a promoted image is judged against. */
export function recordFailover(data: AbstractData): AbstractData {
  return { ...data, failoverCut: data.writes.length };
}

/** The harness read the promoted volume right after failover. */
export function recordPromotedImage(data: AbstractData, image: Image): Recorded {
  const limit = data.failoverCut ?? data.writes.length;
  const promoted = recorded(data, image, limit, optionalUnlessAcked);
  const next = { ...data, failoverCut: limit, promoted };
  return { data: next, violation: checkPromoted(next, image) };
}

const prefix = (what: string, message: string | null): string | null =>
  message === null ? null : `${what}: ${message}`;

// Checks.

export function checkConsistentCut(data: AbstractData, image: Image): string | null {
  const r = cutRange(data, image);
  return typeof r === 'string' ? r : null;
}

export function checkMirrorEqualsPrimary(primary: Image, mirror: Image): string | null {
  const lbas = new Set([...primary.keys(), ...mirror.keys()]);
  for (const lba of [...lbas].sort((a, b) => a - b)) {
    const p = primary.get(lba) ?? 0;
    const m = mirror.get(lba) ?? 0;
    if (p !== m) return `LBA ${lba}: the primary holds write ${p}, the mirror write ${m}`;
  }
  return null;
}

/**
 * A read of `lba` returned the block of `writeId` (0: never written, -1: garbage). Before failover it
 * must be the latest acknowledged write to that LBA or a later one still open; after failover, the
 * latest acknowledged write to the promoted volume or a later open one, or else what the promoted
 * image held.
 */
export function checkRead(data: AbstractData, lba: number, writeId: number): string | null {
  const positions = positionsByLba(data.writes, data.writes.length).get(lba) ?? [];
  const ps = positionsOf(data, lba, writeId, data.writes.length, positions);
  if (typeof ps === 'string') return `read: ${ps}`;
  // A block of several possible writes passes when one of them would.
  let first: string | null = null;
  for (const p of ps) {
    const m = checkReadAt(data, lba, writeId, p, positions);
    if (m === null) return null;
    first ??= m;
  }
  return first;
}

function checkReadAt(
  data: AbstractData,
  lba: number,
  writeId: number,
  p: number,
  positions: readonly number[],
): string | null {
  const from = data.failoverCut ?? 0;
  const since = positions.filter((q) => q > from);
  if (data.failoverCut !== null && p <= from) {
    const acked = since.find((q) => data.writes[q - 1]!.fate === 'acked');
    if (acked !== undefined) return missedRead(data, lba, writeId, acked);
    return checkPromotedRead(data, lba, writeId);
  }
  const r = lbaRange(data, since, p, data.writes.length, optionalUnlessAcked);
  return r.hi >= data.writes.length ? null : missedRead(data, lba, writeId, r.hi + 1);
}

function missedRead(data: AbstractData, lba: number, writeId: number, position: number): string {
  const missed = data.writes[position - 1]!;
  return `read of LBA ${lba} returned write ${writeId}, but the later write ${missed.writeId} to it was acknowledged`;
}

function checkPromotedRead(data: AbstractData, lba: number, writeId: number): string | null {
  if (data.promoted === null) return null;
  const held = data.promoted.image.get(lba) ?? 0;
  return held === writeId
    ? null
    : `read of LBA ${lba} after failover returned write ${writeId}; the promoted image holds ${held}`;
}

/**
 * What the promoted mirror must hold after failover: per LBA the latest guaranteed write or a later
 * one, and, as mirror image plus log replay in seq order, a consistent cut of the writes accepted.
 */
export function checkPromoted(data: AbstractData, image: Image): string | null {
  const limit = data.failoverCut ?? data.writes.length;
  const byLba = positionsByLba(data.writes, limit);
  for (const [lba, positions] of byLba) {
    const last = positions.filter((q) => data.writes[q - 1]!.guaranteed).at(-1);
    if (last === undefined) continue;
    const held = image.get(lba) ?? 0;
    const ps = positionsOf(data, lba, held, limit, positions);
    if (typeof ps === 'string') return `after failover: ${ps}`;
    if (ps[ps.length - 1]! < last) return missingMessage(data, lba, held, last);
  }
  const cut = cutRange(data, image, limit, optionalUnlessAcked);
  return typeof cut === 'string' ? `after failover: ${cut}` : null;
}

function missingMessage(data: AbstractData, lba: number, held: number, last: number): string {
  const w = data.writes[last - 1]!;
  const how = w.answer ? `${w.answer.mode}, ${w.answer.relationship}` : 'resynced';
  return `after failover LBA ${lba} holds write ${held}: write ${w.writeId} (acknowledged: ${how}) is lost`;
}

/**
 * The destination's log file for `source`: none of another source's entries, seqs increasing, each a
 * write accepted from this source with its own LBA and in acceptance order, and every guaranteed write
 * the mirror's committed CP (`mirrorCp`) does not surely hold. Entries the CP covers may linger until
 * truncation follows the commit; a failover replay skips them by seq.
 */
export function checkLogFile(
  data: AbstractData,
  source: NodeId,
  records: readonly LogRecord[],
  mirrorCp: number,
  classOf: (block: Uint8Array) => number = writeIdOf,
): string | null {
  const after = mirrorCutHi(data, mirrorCp);
  const classes = records.map((r) => classOf(r.data));
  return (
    checkLogOrder(data, source, records, classes) ??
    (after === null ? null : checkLogHoldsGuaranteed(data, records, classes, after))
  );
}

function checkLogOrder(
  data: AbstractData,
  source: NodeId,
  records: readonly LogRecord[],
  classes: readonly number[],
): string | null {
  let lastSeq = -Infinity;
  let lastIndex = -1;
  const byLba = data.sharedContents ? positionsByLba(data.writes, data.writes.length) : null;
  for (const [k, r] of records.entries()) {
    if (r.source !== source) return `log file of ${source} holds an entry of ${r.source} (seq ${r.seq})`;
    if (r.seq <= lastSeq) return `log file of ${source}: seq ${r.seq} follows seq ${lastSeq}`;
    if (byLba) {
      // Identical contents: the entry is the earliest write of its class to its LBA after the last
      // entry's write (the choice that leaves the most room for the entries after it).
      const cls = classes[k]!;
      const ps = positionsOf(data, r.lba, cls, data.writes.length, byLba.get(r.lba) ?? []);
      if (typeof ps === 'string') return `log file of ${source}: seq ${r.seq}: ${ps}`;
      const p = ps.find((q) => q > 0 && q - 1 > lastIndex);
      if (p === undefined)
        return `log file of ${source}: seq ${r.seq} (data of write ${cls}) is out of acceptance order`;
      lastSeq = r.seq;
      lastIndex = p - 1;
      continue;
    }
    const id = classes[k]!;
    const i = writeIndex(data, id);
    if (i === undefined) return `log file of ${source}: seq ${r.seq} holds write ${id}, never accepted`;
    if (data.writes[i]!.lba !== r.lba)
      return `log file of ${source}: seq ${r.seq} puts write ${id} at LBA ${r.lba}`;
    if (i <= lastIndex) return `log file of ${source}: seq ${r.seq} (write ${id}) is out of acceptance order`;
    lastSeq = r.seq;
    lastIndex = i;
  }
  return null;
}

function checkLogHoldsGuaranteed(
  data: AbstractData,
  records: readonly LogRecord[],
  classes: readonly number[],
  after: number,
): string | null {
  // By content class and LBA: an entry with a write's data at its LBA holds it as far as replay goes.
  const key = (lba: number, cls: number) => `${lba}:${cls}`;
  const held = new Set(records.map((r, k) => key(r.lba, classes[k]!)));
  const limit = data.failoverCut ?? data.writes.length;
  for (let i = after; i < limit; i++) {
    const w = data.writes[i]!;
    if (w.guaranteed && !held.has(key(w.lba, contentOf(w))))
      return `log file misses write ${w.writeId} (LBA ${w.lba}), acknowledged in sync after the mirror's CP`;
  }
  return null;
}

/** Writes past this position are surely not in the mirror's CP; null when its image was never recorded. */
function mirrorCutHi(data: AbstractData, mirrorCp: number): number | null {
  if (mirrorCp === 0) return 0;
  return data.mirrorImages.get(mirrorCp)?.cut?.hi ?? data.primaryImages.get(mirrorCp)?.cut?.hi ?? null;
}

/** The identity image of blocks read back: LBA -> write id (write_identity.ts). */
export function imageOf(blocks: ReadonlyMap<number, Uint8Array>): Image {
  const image = new Map<number, number>();
  for (const [lba, block] of blocks) {
    const id = writeIdOf(block);
    if (id !== 0) image.set(lba, id);
  }
  return image;
}
