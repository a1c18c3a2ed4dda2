// The model's properties as named values over the model state (statechart snapshot + abstract data):
// `always` ones must hold in every reachable state; `sometimes` ones show an `always` is not vacuous.
//
// The data properties judge the images the harness recorded from a target (primary and mirror CP
// images, the promoted image). Without a target the lockstep records ideal images, so in model-only
// runs they check the model's own bookkeeping, and "after failover" is vacuous (no image was read).

import {
  type AbstractData,
  checkMirrorEqualsPrimary,
  checkPromoted,
  type Image,
  type RecordedImage,
  type WriteRecord,
} from './abstract_data.ts';
import { controlStateOf } from './control_cache.ts';
import type { ModelState } from './lockstep.ts';

export interface Property {
  readonly name: string;
  readonly kind: 'always' | 'sometimes';
  readonly check: (state: ModelState) => boolean;
  /** For an `always`: the `sometimes` properties that show its precondition is really reached. */
  readonly partners?: readonly string[];
}

const acked = (w: WriteRecord) => w.fate === 'acked' && w.answer !== undefined && !w.answer.promoted;

/**
 * `every(writes, ok)`, remembered per writes array. Lockstep checks these properties after every event,
 * and most events (a TICK, a CP phase) leave the writes as they were: the abstract data never changes
 * an array it has published (abstract_data.ts: each update returns new data), so the answer for an
 * array object holds as long as it lives.
 */
function everyWrite(ok: (w: WriteRecord) => boolean): (writes: readonly WriteRecord[]) => boolean {
  const answers = new WeakMap<readonly WriteRecord[], boolean>();
  return (writes) => {
    let answer = answers.get(writes);
    if (answer === undefined) {
      answer = writes.every(ok);
      answers.set(writes, answer);
    }
    return answer;
  };
}

const strictSyncAcksMirrored = everyWrite(
  (w) =>
    !acked(w) ||
    w.answer?.mode !== 'strict-sync' ||
    (w.answer.relationship === 'inSync' && w.answer.mirrored),
);

export const strictSyncAcksOnlyMirrored: Property = {
  name: 'strict-sync never acknowledges an unmirrored write',
  kind: 'always',
  partners: ['a strict-sync write failed while out of sync'],
  check: ({ data }) => strictSyncAcksMirrored(data.writes),
};

const strictSyncFailuresOutOfSync = everyWrite(
  (w) =>
    w.fate !== 'failed' ||
    w.answer?.mode !== 'strict-sync' ||
    w.answer.relationship !== 'inSync' ||
    w.answer.volumeLost === true,
);

export const strictSyncFailsOnlyOutOfSync: Property = {
  name: 'strict-sync fails a write only while not in sync',
  kind: 'always',
  partners: ['a strict-sync write failed while out of sync'],
  check: ({ data }) => strictSyncFailuresOutOfSync(data.writes),
};

const inSyncAcksMirrored = everyWrite(
  (w) =>
    !acked(w) || w.answer?.mode === 'semi-sync' || w.answer?.relationship !== 'inSync' || w.answer.mirrored,
);

export const inSyncAcksWaitForMirror: Property = {
  name: 'a sync or strict-sync acknowledgement in sync waits for the mirror',
  kind: 'always',
  partners: ['a write acknowledged in sync after its log entry reached the destination'],
  check: ({ data }) => inSyncAcksMirrored(data.writes),
};

export const mirrorNeverAhead: Property = {
  name: "the mirror's committed CP is never ahead of the primary's",
  kind: 'always',
  partners: ['the primary committed a CP the mirror has not committed yet'],
  // After failover the promoted volume runs CPs of its own (and stays failed over across a crash).
  check: ({ snapshot }) =>
    controlStateOf(snapshot).relationship === 'failedOver' ||
    snapshot.context.mirrorCp <= snapshot.context.primaryCp,
};

export const inSyncBoundaryMirrorEqualsPrimary: Property = {
  name: 'at an in-sync CP boundary the mirror equals the primary',
  kind: 'always',
  partners: ['a CP committed during a partition', 'a resync brought the relationship back in sync'],
  check: ({ snapshot, data }) => {
    const s = controlStateOf(snapshot);
    const c = snapshot.context;
    const boundary =
      s.relationship === 'inSync' && (s.source === 'serving.idle' || s.source === 'recovering');
    if (!boundary) return true;
    if (c.mirrorCp !== c.primaryCp) return false;
    const primary = data.primaryImages.get(c.primaryCp)?.image;
    const mirror = data.mirrorImages.get(c.mirrorCp)?.image;
    return primary === undefined || mirror === undefined || mirrorEqualsPrimary(primary, mirror);
  },
};

/**
 * checkMirrorEqualsPrimary, remembered per pair of images (a recorded image never changes): at an
 * in-sync boundary the property asks again every step until the next CP, of the same two images.
 */
function mirrorEqualsPrimary(primary: Image, mirror: Image): boolean {
  let answers = equalAnswers.get(primary);
  if (answers === undefined) {
    answers = new WeakMap();
    equalAnswers.set(primary, answers);
  }
  let answer = answers.get(mirror);
  if (answer === undefined) {
    answer = checkMirrorEqualsPrimary(primary, mirror) === null;
    answers.set(mirror, answer);
  }
  return answer;
}

const equalAnswers = new WeakMap<Image, WeakMap<Image, boolean>>();

export const cpImagesAreConsistentCuts: Property = {
  name: 'every committed CP image is a consistent cut, never a mixture',
  kind: 'always',
  partners: ['a CP committed with writes in it'],
  check: ({ data }) => consistentCuts(data.primaryImages) && consistentCuts(data.mirrorImages),
};

/** Whether every recorded image is a consistent cut, remembered per map (never changed once published). */
function consistentCuts(images: ReadonlyMap<number, RecordedImage>): boolean {
  let answer = cutAnswers.get(images);
  if (answer === undefined) {
    answer = true;
    for (const r of images.values()) if (r.violation !== null) answer = false;
    cutAnswers.set(images, answer);
  }
  return answer;
}

const cutAnswers = new WeakMap<ReadonlyMap<number, RecordedImage>, boolean>();

export const failoverKeepsSyncAcks: Property = {
  name: 'after failover every write acknowledged in sync is present',
  kind: 'always',
  partners: ['a failover after a mid-CP crash'],
  check: ({ data }) => data.promoted === null || promotedKeepsSyncAcks(data),
};

/**
 * checkPromoted of the promoted image, remembered per writes array: it asks again at every step after
 * a failover, and it reads only the writes (replaced, never changed, when any write changes), the
 * promoted image and the failover cut.
 */
function promotedKeepsSyncAcks(data: AbstractData): boolean {
  const promoted = data.promoted!;
  const seen = promotedAnswers.get(data.writes);
  if (seen !== undefined && seen.promoted === promoted && seen.cut === data.failoverCut) return seen.ok;
  const ok = checkPromoted(data, promoted.image) === null;
  promotedAnswers.set(data.writes, { promoted, cut: data.failoverCut, ok });
  return ok;
}

const promotedAnswers = new WeakMap<
  readonly WriteRecord[],
  { readonly promoted: RecordedImage; readonly cut: number | null; readonly ok: boolean }
>();

export const ALWAYS: readonly Property[] = [
  strictSyncAcksOnlyMirrored,
  strictSyncFailsOnlyOutOfSync,
  inSyncAcksWaitForMirror,
  mirrorNeverAhead,
  inSyncBoundaryMirrorEqualsPrimary,
  cpImagesAreConsistentCuts,
  failoverKeepsSyncAcks,
];

export const SOMETIMES: readonly Property[] = [
  {
    name: 'a strict-sync write failed while out of sync',
    kind: 'sometimes',
    check: ({ data }) =>
      data.writes.some(
        (w) => w.fate === 'failed' && w.answer?.mode === 'strict-sync' && w.answer.relationship !== 'inSync',
      ),
  },
  {
    name: 'a write acknowledged in sync after its log entry reached the destination',
    kind: 'sometimes',
    check: ({ data }) =>
      data.writes.some(
        (w) =>
          acked(w) &&
          w.answer?.mode !== 'semi-sync' &&
          w.answer?.relationship === 'inSync' &&
          w.answer.mirrored,
      ),
  },
  {
    name: 'the primary committed a CP the mirror has not committed yet',
    kind: 'sometimes',
    check: ({ snapshot }) =>
      controlStateOf(snapshot).source === 'serving.cp.committing' &&
      snapshot.context.mirrorCp < snapshot.context.primaryCp,
  },
  {
    name: 'a CP committed during a partition',
    kind: 'sometimes',
    check: ({ data }) => data.milestones.cpCompletedAloneInPartition > 0,
  },
  {
    name: 'a resync brought the relationship back in sync',
    kind: 'sometimes',
    check: ({ data }) => data.milestones.resyncsCompleted > 0,
  },
  {
    name: 'a CP committed with writes in it',
    kind: 'sometimes',
    check: ({ data }) => [...data.primaryImages.values()].some((r) => r.image.size > 0),
  },
  {
    name: 'a failover after a mid-CP crash',
    kind: 'sometimes',
    check: ({ snapshot }) =>
      controlStateOf(snapshot).destination === 'promoted' && snapshot.context.crashedMidCp,
  },
];

export const PROPERTIES: readonly Property[] = [...ALWAYS, ...SOMETIMES];

/** The names of the `always` properties the state breaks (empty when all hold). */
export function brokenAlways(state: ModelState): readonly string[] {
  let broken: string[] | null = null;
  for (const p of ALWAYS) {
    if (p.check(state)) continue;
    broken ??= [];
    broken.push(p.name);
  }
  return broken ?? NONE_BROKEN;
}

const NONE_BROKEN: readonly string[] = [];
