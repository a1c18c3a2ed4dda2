// What a run has seen so far, target-agnostic: every write issued and how it was answered, the image
// (LBA -> write id) of every CP the primary committed, the observation before and after each step.
// Properties read it; only the runner writes it. Everything here comes through the target interface.

import { readCommittedImage } from './mirror_compare.ts';
import {
  type NodeId,
  type Observation,
  type RelationshipState,
  relationshipsOfStep,
  type TargetInstance,
} from './target.ts';
import type { World, WorldAction } from './world.ts';

/** LBA -> write id (0: never written, -1: not a whole write). */
export type Image = readonly number[];

export interface AckRecord {
  readonly writeId: number;
  readonly source: NodeId;
  readonly lba: number;
  readonly ok: boolean;
  /** The relationship the source reported in the observation before the step that acknowledged it. */
  readonly relationshipBefore: RelationshipState;
  /** True when the relationship was in sync throughout that step (rule O5): an in-sync acknowledgement. */
  readonly inSync: boolean;
  /** The world answered for a server that went down; the target said nothing. */
  readonly byWorld: boolean;
  readonly step: number;
}

export interface SourceHistory {
  /** Primary images by CP number, read when primaryCp was seen to change. */
  readonly primaryImages: Map<number, Image>;
  /**
   * The mirror's committed image, read when the destination was first seen up at a new mirrorCp. The
   * destination may commit a CP and lose power in one step: its image is then read once it is back.
   */
  mirrorImage: Image | null;
  /** How many writes the world had issued when `mirrorImage` was read. */
  writesAtMirrorImage: number;
  /** `writesAtMirrorImage` of the mirror image kept at the last out-of-sync. */
  writesAtOutOfSyncImage: number;
  /** The mirror CP `mirrorImage` is the image of. */
  mirrorImageCp: number;
  /** The step at which `mirrorImage` was read: properties judge an image once, when it is new. */
  mirrorImageStep: number;
  /** Per LBA, the write id of the latest write acknowledged ok (0 when none). */
  readonly latestAcked: number[];
  /** Per LBA, the latest write acknowledged ok while the relationship was in sync (sync and strict-sync guarantee these). */
  readonly latestAckedInSync: number[];
  /** Bytes this source sent since the relationship last left 'in-sync'. */
  bytesSinceOutOfSync: number;
  /** Messages this source sent since the relationship last left 'in-sync'. */
  messagesSinceOutOfSync: number;
  /** Bytes this source sent in the current step. */
  bytesThisStep: number;
  /** The mirror's image when the relationship last left 'in-sync'. */
  mirrorImageAtOutOfSync: Image | null;
  /**
   * Where in the world's writes (all sources) the entries a resync may send begin, as of the
   * relationship last leaving 'in-sync': `firstUnconfirmedWrite` then.
   */
  writesAtOutOfSync: number;
  /** The live VBNs found equal at the last CP boundary check. */
  comparedLive: Set<number>;
  /** Times the relationship was seen entering 'resyncing' since it last left 'in-sync'. */
  resyncAttempts: number;
  /** Writes acknowledged ok in sync (rule A1: in sync and strict-sync mode, their entries were logged). */
  readonly ackedInSync: Set<number>;
}

/** Not a closure in `update`: under tsx each named closure costs a defineProperty each time it is created. */
function failedOver(o: Observation, source: NodeId): boolean {
  return o.sources[source]?.relationship === 'failed-over';
}

export class History {
  readonly world: World;
  readonly sources = new Map<NodeId, SourceHistory>();
  /** Observations before and after the current step. */
  before: Observation;
  after: Observation;
  /** Acks that arrived during the current step. */
  acks: AckRecord[] = [];
  stepIndex = 0;
  /** Acknowledgements to verify against the destination's disks once it is up (it was down when they came). */
  readonly deferredAcks: AckRecord[] = [];
  /** Sources that lost power through an armed cut, in the middle of work (a CP, a log append). */
  readonly midOperationCrashes = new Set<NodeId>();
  action: WorldAction | null = null;
  /** Bookkeeping that properties keep for themselves across steps, by property name. */
  readonly scratch = new Map<string, unknown>();
  private answered = 0;
  private readonly bytesAtLastStep = new Map<NodeId, number>();
  private readonly messagesAtLastStep = new Map<NodeId, number>();
  private readonly lbaCount: Map<NodeId, number>;

  constructor(world: World) {
    this.world = world;
    this.before = world.observe();
    this.after = this.before;
    this.lbaCount = new Map(world.spec.sources.map((s) => [s.id, s.lbaCount]));
    for (const s of world.spec.sources) {
      const zero = new Array<number>(s.lbaCount).fill(0);
      this.sources.set(s.id, {
        primaryImages: new Map([[this.before.sources[s.id]!.primaryCp, zero]]),
        mirrorImage: zero,
        mirrorImageCp: this.before.sources[s.id]!.mirrorCp,
        mirrorImageStep: 0,
        writesAtMirrorImage: 0,
        writesAtOutOfSyncImage: 0,
        latestAcked: [...zero],
        latestAckedInSync: [...zero],
        ackedInSync: new Set(),
        bytesSinceOutOfSync: 0,
        messagesSinceOutOfSync: 0,
        bytesThisStep: 0,
        mirrorImageAtOutOfSync: null,
        writesAtOutOfSync: 0,
        resyncAttempts: 0,
        comparedLive: new Set(),
      });
    }
  }

  get instance(): TargetInstance {
    return this.world.instance;
  }

  source(id: NodeId): SourceHistory {
    return this.sources.get(id)!;
  }

  lbas(id: NodeId): number {
    return this.lbaCount.get(id)!;
  }

  /** Called by the runner after each world step: gathers acks, images and byte counts. */
  update(action: WorldAction): void {
    this.stepIndex++;
    this.action = action;
    this.before = this.after;
    this.after = this.world.observe();
    this.acks = [];
    const answers = this.world.answers;
    for (; this.answered < answers.length; this.answered++) {
      const w = this.world.writeRecord(answers[this.answered]!)!;
      const ok = w.outcome!.ok;
      const b = this.before.sources[w.source];
      const a = this.after.sources[w.source];
      const rel = b?.relationship ?? 'out-of-sync';
      // In sync throughout the step, excursions the target showed (rule O5) included.
      const inSync =
        b !== undefined && a !== undefined && relationshipsOfStep(b, a).every((r) => r === 'in-sync');
      const ack = {
        writeId: w.writeId,
        source: w.source,
        lba: w.lba,
        ok,
        relationshipBefore: rel,
        inSync,
        byWorld: w.outcome!.byWorld === true,
        step: this.stepIndex,
      };
      this.acks.push(ack);
      if (!ok) continue;
      const h = this.source(w.source);
      if (w.writeId > h.latestAcked[w.lba]!) h.latestAcked[w.lba] = w.writeId;
      if (inSync && w.writeId > h.latestAckedInSync[w.lba]!) h.latestAckedInSync[w.lba] = w.writeId;
      if (inSync) h.ackedInSync.add(w.writeId);
    }
    for (const s of this.world.spec.sources) {
      // Only guaranteed acknowledgements survive a failover: in-sync ones in sync and strict-sync mode.
      // Seen when the target first shows it: at the failover, or at the destination's restart when a
      // power cut fell in the middle of the promotion.
      if (!failedOver(this.after, s.id) || failedOver(this.before, s.id)) continue;
      const h = this.source(s.id);
      for (let lba = 0; lba < h.latestAcked.length; lba++)
        h.latestAcked[lba] = s.mode === 'semi-sync' ? 0 : h.latestAckedInSync[lba]!;
    }
    for (const s of this.world.spec.sources) {
      const total = this.world.bytesSent.get(s.id) ?? 0;
      const messages = this.world.messagesSent.get(s.id) ?? 0;
      this.updateSource(
        s.id,
        total - (this.bytesAtLastStep.get(s.id) ?? 0),
        messages - (this.messagesAtLastStep.get(s.id) ?? 0),
      );
      this.bytesAtLastStep.set(s.id, total);
      this.messagesAtLastStep.set(s.id, messages);
    }
  }

  private updateSource(id: NodeId, bytes: number, messages: number): void {
    const h = this.source(id);
    const b = this.before.sources[id]!;
    const a = this.after.sources[id]!;
    if (
      a.up &&
      a.relationship !== 'failed-over' &&
      a.primaryCp !== b.primaryCp &&
      !h.primaryImages.has(a.primaryCp) &&
      // A lost volume (D4) cannot be read: a CP it shows is judged by the mirror's rules alone.
      !this.world.lostVolumes.has(id)
    )
      h.primaryImages.set(a.primaryCp, this.readImage(id, 'primary'));
    if (
      this.after.destinationUp &&
      a.mirrorCp !== h.mirrorImageCp &&
      a.relationship !== 'failed-over' &&
      // A lost mirror (D5) cannot be read: a CP it shows is the model's to refuse.
      !this.world.lostMirrors.has(id)
    ) {
      h.mirrorImage = this.readImage(id, 'mirror');
      h.mirrorImageCp = a.mirrorCp;
      h.mirrorImageStep = this.stepIndex;
      h.writesAtMirrorImage = this.world.writes.length;
    }
    // Each move of the step (rule O5), in order: a step may leave in sync and start a resync.
    const path = relationshipsOfStep(b, a);
    for (let i = 1; i < path.length; i++) {
      if (path[i] === 'resyncing') h.resyncAttempts++;
      if (path[i - 1] !== 'in-sync') continue;
      h.resyncAttempts = path[i] === 'resyncing' ? 1 : 0;
      h.bytesSinceOutOfSync = 0;
      h.messagesSinceOutOfSync = 0;
      h.mirrorImageAtOutOfSync = h.mirrorImage;
      h.writesAtOutOfSyncImage = h.writesAtMirrorImage;
      h.writesAtOutOfSync = this.firstUnconfirmedWrite(id);
    }
    // Down without a crash action of its own: an armed power cut fired in the middle of some work.
    if (b.up && !a.up && this.action?.kind !== 'crash') this.midOperationCrashes.add(id);
    h.bytesSinceOutOfSync += bytes;
    h.messagesSinceOutOfSync += messages;
    h.bytesThisStep = bytes;
  }

  /**
   * Rule L3's "writes whose entries may not have reached the destination": the earliest of `id`'s
   * writes that may have to be sent again, as an index into the world's writes. In sync and
   * strict-sync mode, every write not acknowledged in sync (an in-sync ack follows its log-ack, rule
   * A1); in semi-sync mode an in-sync ack may come first, so also every write with no round trip
   * since it was accepted (harness/causality.ts), and the `semiSyncMaxLagEntries` before those.
   */
  private firstUnconfirmedWrite(id: NodeId): number {
    const writes = this.world.writes;
    const spec = this.world.spec;
    const semiSync = spec.sources.find((s) => s.id === id)?.mode === 'semi-sync';
    const confirmed = this.world.causality.confirmedTo(id);
    const acked = this.source(id).ackedInSync;
    let lagAllowed = semiSync ? spec.semiSyncMaxLagEntries : 0;
    let first = writes.length;
    for (let i = writes.length - 1; i >= 0; i--) {
      const w = writes[i]!;
      if (w.source !== id) continue;
      if (!acked.has(w.writeId) || (semiSync && w.sendsAtIssue >= confirmed)) first = i;
      else if (lagAllowed-- > 0) first = i;
      else break;
    }
    return first;
  }

  /** The mirror's image was read in this step: it is of a CP no check has judged yet. */
  freshMirrorImage(id: NodeId): Image | null {
    const h = this.source(id);
    return h.mirrorImageStep === this.stepIndex ? h.mirrorImage : null;
  }

  readImage(id: NodeId, side: 'primary' | 'mirror'): Image {
    // Content classes (write_contents.ts): fresh data names its write; repeated data its first write.
    // One class per block object: a target may give one block for several LBAs (its zero block), and
    // no target code runs while the image is classified, so the same object holds the same bytes.
    const classes = new Map<Uint8Array, number>();
    return readCommittedImage(this.instance, id, side, this.lbas(id)).map((b) => {
      let cls = classes.get(b);
      if (cls === undefined) {
        cls = this.world.contents.classOf(b);
        classes.set(b, cls);
      }
      return cls;
    });
  }
}
