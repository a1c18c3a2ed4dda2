// The shadow-paging source: NVLOG, CPs writing shadow images, log forwarding, CP sync of VBN deltas, resync, recovery.
// Fault model: power cut after any media write; link loss, delay, duplication, reordering; destination down.

import type { Disk } from '../harness/media/disk.ts';
import type { Nvram } from '../harness/media/nvram.ts';
import type { Mode, RelationshipState, SourceSpec, WorldSpec } from '../harness/target.ts';
import { assembleRaidGroup, type RaidGroup, type VbnBlock } from '../impl/raid.ts';
import { rebuildBlankDisks } from './shadow_disks.ts';
import { ShadowNvlog } from './shadow_nvlog.ts';
import { type Image, type Layout, layoutFor, type Pin, ShadowVolume } from './shadow_volume.ts';
import { type Message, NO_BASE } from './shadow_wire.ts';

export type SourceEffect =
  | { readonly kind: 'send'; readonly message: Message }
  | { readonly kind: 'ack'; readonly writeId: number; readonly ok: boolean; readonly error?: string };

interface Write {
  readonly writeId: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

/** Sessions separate boots and out-of-sync periods; a boot's sessions are all above the previous boot's. */
const SESSIONS_PER_BOOT = 0x10000;

export class ShadowSource {
  readonly id: string;
  private readonly mode: Mode;
  private readonly world: WorldSpec;
  private readonly volume: ShadowVolume;
  private readonly nvlog: ShadowNvlog;
  private readonly layout: Layout;
  private effects: SourceEffect[] = [];

  committed: Image;
  /** Images the destination's mirror may hold (CP numbers); each is kept intact on our disks too. */
  private mirrorMay: number[];
  private readonly images = new Map<number, Image>();

  relationship: RelationshipState = 'out-of-sync';
  private session: number;
  private ticks = 0;
  private lastCpStart = 0;

  // NVLOG halves: the active one takes new entries; the frozen one (if a CP is in progress) is being flushed.
  private activeHalf = 0;
  private activeCount = 0;
  private active = new Map<number, Uint8Array>();
  private frozen: Map<number, Uint8Array> | null = null;
  private frozenLastSeq = 0;
  private nextSeq: number;

  cpInProgress = false;
  /**
   * Rule D4: set, for good, by the first RAID refusal (the primary group is past its tolerance). A lost
   * volume takes no new write and runs no CP or resync; entries already forwarded are still answered by
   * their log-acks or a timeout.
   */
  private lostBecause: string | null = null;
  /** The CP sync awaiting the destination's confirm. */
  private awaiting: { cp: number; sentAt: number } | null = null;
  /** Entries forwarded and not yet log-acknowledged, with the tick they were sent. */
  private readonly outstanding = new Map<number, number>();
  /** sync / strict-sync writes waiting for their entry's log-ack. */
  private readonly waiting = new Map<number, number>();
  /** semi-sync: acknowledged, entry not yet logged (at most semiSyncMaxLagEntries while in sync). */
  private readonly lag = new Set<number>();
  /** semi-sync writes logged locally, waiting for room under the lag bound. */
  private semiWaiting: { seq: number; writeId: number }[] = [];
  /** Writes not yet in the NVLOG (both halves full), in arrival order. */
  private stalled: Write[] = [];
  /** resyncing: the resync CP was confirmed; in sync once every forwarded entry is logged too. */
  private resyncConfirmed = false;

  private constructor(spec: SourceSpec, world: WorldSpec, group: RaidGroup, nvram: Nvram, boot: number) {
    this.id = spec.id;
    this.mode = spec.mode;
    this.world = world;
    this.layout = layoutFor(spec.lbaCount, world.blockBytes, spec.primary, spec.mirror);
    this.volume = new ShadowVolume(group, this.layout);
    this.nvlog = new ShadowNvlog(nvram, spec.nvlogHalfEntries, world.blockBytes);
    this.session = boot * SESSIONS_PER_BOOT;
    this.committed = null as unknown as Image;
    this.mirrorMay = [];
    this.nextSeq = 1;
  }

  static format(spec: SourceSpec, world: WorldSpec, disks: Disk[], nvram: Nvram): ShadowSource {
    const group = assembleRaidGroup(spec.primary, disks);
    const s = new ShadowSource(spec, world, group, nvram, 0);
    s.committed = s.volume.format();
    s.images.set(0, s.committed);
    s.mirrorMay = [0];
    // The first relationship starts in sync: both sides were formatted to the same CP 0.
    s.relationship = 'in-sync';
    s.session = 1;
    return s;
  }

  /** Mount the last committed root, find the images the mirror may hold, replay the NVLOG, then resync. */
  static recover(spec: SourceSpec, world: WorldSpec, disks: Disk[], nvram: Nvram): ShadowSource {
    const group = assembleRaidGroup(spec.primary, disks);
    rebuildBlankDisks(group, disks);
    group.resyncParity();
    const probe = new ShadowNvlog(nvram, spec.nvlogHalfEntries, world.blockBytes);
    const boot = probe.readBoot() + 1;
    probe.writeBoot(boot);
    const s = new ShadowSource(spec, world, group, nvram, boot);
    s.committed = s.volume.mount();
    s.images.set(s.committed.cp, s.committed);
    for (const pin of s.committed.pinned) {
      // A pinned slot reused after the mirror confirmed a newer CP no longer holds that image: drop it.
      const image = s.volume.readSlot(pin.slot);
      if (image && image.cp === pin.cp) {
        s.images.set(image.cp, image);
        s.mirrorMay.push(image.cp);
      }
    }
    const entries = s.nvlog
      .scan()
      .filter((e) => e.seq > s.committed.coveredSeq)
      .sort((a, b) => a.seq - b.seq);
    s.nextSeq = Math.max(s.committed.coveredSeq, ...entries.map((e) => e.seq)) + 1;
    s.relationship = 'out-of-sync';
    s.session++;
    if (entries.length > 0) {
      // Replayed writes go into a CP at once, committed locally, so that both NVLOG halves are free again.
      for (const e of entries) s.active.set(e.lba, e.data);
      s.activeCount = entries.length;
      s.startCp(entries[entries.length - 1]!.seq);
    }
    s.activeHalf = 0;
    s.activeCount = 0;
    s.send({ type: 'hello', session: s.session });
    return s;
  }

  takeEffects(): SourceEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  get pendingWrites(): number {
    return this.stalled.length + this.waiting.size + this.semiWaiting.length;
  }

  /** What a crash leaves committed: the root in flight counts if it landed whole. */
  cpAfterCut(): number {
    return this.volume.landedRootCp() ?? this.committed.cp;
  }

  // Client I/O ---------------------------------------------------------------------------------------

  clientWrite(writeId: number, lba: number, data: Uint8Array): void {
    if (!Number.isInteger(lba) || lba < 0 || lba >= this.layout.lbaCount) {
      this.effects.push({ kind: 'ack', writeId, ok: false, error: `lba ${lba} outside the volume` });
      return;
    }
    if (this.lostBecause !== null) {
      this.effects.push({ kind: 'ack', writeId, ok: false, error: `primary lost: ${this.lostBecause}` });
      return;
    }
    this.stalled.push({ writeId, lba, data });
    this.unlessLost(() => this.pump());
  }

  /** Runs `f`; RAID refusing I/O (RaidFailure) marks the volume lost and fails the writes not yet logged. */
  private unlessLost(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (!(e instanceof Error) || e.name !== 'RaidFailure') throw e;
      this.lostBecause ??= e.message;
      for (const w of this.stalled.splice(0))
        this.effects.push({
          kind: 'ack',
          writeId: w.writeId,
          ok: false,
          error: `primary lost: ${e.message}`,
        });
    }
  }

  clientRead(lba: number): Uint8Array {
    const hot = this.active.get(lba) ?? this.frozen?.get(lba);
    if (hot) return hot.slice();
    return this.volume.readLba(this.committed, lba);
  }

  readCommitted(lba: number): Uint8Array {
    return this.volume.readLba(this.committed, lba);
  }

  liveVbns(): number[] {
    return this.volume.liveVbns(this.committed);
  }

  readVbn(vbn: number): Uint8Array {
    return this.volume.group.read(vbn);
  }

  replaceDisk(index: number, spare: Disk): void {
    this.volume.group.replaceAndRebuild(index, spare);
  }

  /** The primary group's scrub (rule D3). */
  scrub(): void {
    this.volume.group.scrub();
  }

  /** Admits stalled writes in arrival order while the active half has room (or a CP can free one). */
  private pump(): void {
    while (this.stalled.length > 0) {
      if (this.activeCount >= this.nvlog.halfEntries) {
        // T2 / N1: a write finding the half full starts a CP, or stalls behind the one in progress.
        if (this.cpInProgress) return;
        this.startCp();
        continue;
      }
      const w = this.stalled.shift()!;
      if (this.mode === 'strict-sync' && this.relationship !== 'in-sync') {
        this.effects.push({
          kind: 'ack',
          writeId: w.writeId,
          ok: false,
          error: `strict-sync: ${this.relationship}`,
        });
        continue;
      }
      this.log(w);
    }
    // T1: a write logged after the timer fell due (nothing was dirty then) starts its CP at once.
    this.maybeTimerCp();
  }

  private maybeTimerCp(): void {
    if (
      !this.cpInProgress &&
      this.activeCount > 0 &&
      this.ticks - this.lastCpStart >= this.world.cpIntervalTicks
    )
      this.startCp();
  }

  private log(w: Write): void {
    const seq = this.nextSeq++;
    this.nvlog.append(this.activeHalf, this.activeCount, { seq, lba: w.lba, data: w.data });
    this.activeCount++;
    this.active.set(w.lba, w.data);
    const forward = this.relationship !== 'out-of-sync';
    if (forward) {
      this.outstanding.set(seq, this.ticks);
      this.send({ type: 'entry', session: this.session, seq, lba: w.lba, data: w.data });
    }
    if (this.relationship !== 'in-sync') return this.ack(w.writeId);
    if (this.mode === 'semi-sync') {
      this.semiWaiting.push({ seq, writeId: w.writeId });
      this.drainSemi();
    } else this.waiting.set(seq, w.writeId);
  }

  private drainSemi(): void {
    while (this.semiWaiting.length > 0 && this.lag.size < this.world.semiSyncMaxLagEntries) {
      const { seq, writeId } = this.semiWaiting.shift()!;
      if (this.outstanding.has(seq)) this.lag.add(seq);
      this.ack(writeId);
    }
  }

  private ack(writeId: number): void {
    this.effects.push({ kind: 'ack', writeId, ok: true });
  }

  private send(message: Message): void {
    this.effects.push({ kind: 'send', message });
  }

  // CPs ----------------------------------------------------------------------------------------------

  private kept(): Image[] {
    const cps = new Set([this.committed.cp, ...this.mirrorMay]);
    return [...cps].map((cp) => this.images.get(cp)!).filter((i) => i !== undefined);
  }

  private pinOf(cp: number): Pin {
    return { slot: this.images.get(cp)!.slot, cp };
  }

  private prune(): void {
    const keep = new Set([this.committed.cp, ...this.mirrorMay]);
    for (const cp of [...this.images.keys()]) if (!keep.has(cp)) this.images.delete(cp);
    this.mirrorMay = this.mirrorMay.filter((cp) => this.images.has(cp));
  }

  /**
   * Freezes the active half and writes CP committed+2 (data, table, root last). In sync or resyncing it
   * then ships the delta against the one image the mirror holds and waits for the confirm; out of sync
   * it completes at once.
   */
  private startCp(coveredOverride?: number): void {
    this.cpInProgress = true;
    this.frozen = this.active;
    this.frozenLastSeq = coveredOverride ?? this.nextSeq - 1;
    this.active = new Map();
    this.activeHalf = 1 - this.activeHalf;
    this.activeCount = 0;
    this.lastCpStart = this.ticks;
    const base = this.committed;
    const ship = this.relationship !== 'out-of-sync' && this.mirrorMay.length === 1;
    const kept = this.kept();
    const slot = this.volume.freeSlot(kept);
    const cp = base.cp + 2;
    // The root records which images the mirror may hold once this CP is shipped: a restart keeps them.
    const pinned: Pin[] = ship
      ? [this.pinOf(this.mirrorMay[0]!), { slot, cp }]
      : this.mirrorMay.map((c) => this.pinOf(c));
    const { image, blocks } = this.volume.commitWrites(
      base,
      this.frozen,
      { cp, slot, coveredSeq: Math.max(base.coveredSeq, this.frozenLastSeq), promoted: false, pinned },
      kept,
    );
    this.committed = image;
    this.images.set(image.cp, image);
    if (ship) {
      const mirrorCp = this.mirrorMay[0]!;
      const delta = this.delta(this.images.get(mirrorCp)!, image, blocks);
      this.mirrorMay = [mirrorCp, image.cp];
      this.awaiting = { cp: image.cp, sentAt: this.ticks };
      this.send({
        type: 'cp-sync',
        session: this.session,
        cp: image.cp,
        baseCp: mirrorCp,
        rootVbn: image.slot * this.layout.slotBlocks,
        blocks: delta,
      });
      return;
    }
    this.completeCp();
  }

  /** The VBN updates that turn the mirror's image `from` into `to`: changed data, then `to`'s slot, root last. */
  private delta(from: Image | null, to: Image, written: readonly VbnBlock[]): VbnBlock[] {
    const fresh = new Map(written.map((b) => [b.vbn, b.data]));
    const out: VbnBlock[] = [];
    const seen = new Set<number>();
    for (let lba = 0; lba < this.layout.lbaCount; lba++) {
      const v = to.table[lba]!;
      if (v === 0 || (from && from.table[lba] === v) || seen.has(v)) continue;
      seen.add(v);
      out.push({ vbn: v, data: fresh.get(v) ?? this.volume.group.read(v) });
    }
    return [...out, ...this.volume.slotBlocks(to)];
  }

  private completeCp(): void {
    this.cpInProgress = false;
    this.frozen = null;
    this.awaiting = null;
    this.prune();
    // T1: a CP overdue while this one ran starts now; N1: a full half is frozen for the next CP.
    if (
      this.activeCount >= this.nvlog.halfEntries ||
      (this.activeCount > 0 && this.ticks - this.lastCpStart >= this.world.cpIntervalTicks)
    )
      this.startCp();
  }

  // Time and messages --------------------------------------------------------------------------------

  tick(): void {
    this.ticks++;
    this.unlessLost(() => this.tickOnce());
  }

  private tickOnce(): void {
    const t = this.world.ackTimeoutTicks;
    const late =
      (this.awaiting !== null && this.ticks - this.awaiting.sentAt >= t) ||
      [...this.outstanding.values()].some((sentAt) => this.ticks - sentAt >= t);
    if (late && this.relationship !== 'out-of-sync') this.goOutOfSync();
    else if (this.relationship === 'out-of-sync' && this.lostBecause === null)
      this.send({ type: 'hello', session: this.session });
    if (this.lostBecause !== null) return;
    this.maybeTimerCp();
    this.pump();
  }

  private goOutOfSync(): void {
    this.relationship = 'out-of-sync';
    this.session++;
    this.resyncConfirmed = false;
    this.outstanding.clear();
    this.lag.clear();
    // Out of sync a sync write needs only the local NVLOG; strict-sync fails it; semi-sync stops waiting.
    for (const writeId of this.waiting.values())
      this.effects.push(
        this.mode === 'strict-sync'
          ? { kind: 'ack', writeId, ok: false, error: 'strict-sync: out of sync' }
          : { kind: 'ack', writeId, ok: true },
      );
    this.waiting.clear();
    for (const w of this.semiWaiting) this.ack(w.writeId);
    this.semiWaiting = [];
    if (this.awaiting) this.completeCp();
    if (this.lostBecause === null) this.send({ type: 'hello', session: this.session });
  }

  receive(m: Message): void {
    this.unlessLost(() => this.handle(m));
  }

  private handle(m: Message): void {
    if (m.type === 'hello' || m.type === 'entry' || m.type === 'cp-sync') return;
    if (m.session !== this.session) return; // An answer to an older session: its requests were settled.
    switch (m.type) {
      case 'status':
        if (this.relationship === 'out-of-sync' && !this.cpInProgress && this.lostBecause === null)
          this.startResync(m.mirrorCp, m.mirrorSlot);
        break;
      case 'log-ack': {
        if (!this.outstanding.delete(m.seq)) break;
        // A sync write is acknowledged once it and every entry before it are logged: failover replays
        // the log file only up to its first gap.
        const firstUnlogged = Math.min(...this.outstanding.keys());
        for (const [seq, writeId] of [...this.waiting].sort((a, b) => a[0] - b[0])) {
          if (seq > firstUnlogged || this.outstanding.has(seq)) break;
          this.waiting.delete(seq);
          this.ack(writeId);
        }
        this.lag.delete(m.seq);
        const i = this.semiWaiting.findIndex((w) => w.seq === m.seq);
        if (i >= 0) this.ack(this.semiWaiting.splice(i, 1)[0]!.writeId);
        this.drainSemi();
        this.checkInSync();
        break;
      }
      case 'confirm':
        if (!this.awaiting || this.awaiting.cp !== m.cp) break;
        this.mirrorMay = [m.cp];
        if (this.relationship === 'resyncing') this.resyncConfirmed = true;
        this.completeCp();
        this.checkInSync();
        break;
    }
    if (this.lostBecause === null) this.pump();
  }

  /**
   * The destination (fenced to this session) holds CP `mirrorCp`, its root in `mirrorSlot`: ship one CP
   * on top of it. The mirror only holds CPs this source kept (every root pins the images the mirror may
   * hold, CP 0's included), so the image is known unless that bookkeeping was lost.
   */
  private startResync(mirrorCp: number, mirrorSlot: number): void {
    const image = this.images.get(mirrorCp);
    const known = image && image.slot === mirrorSlot ? image : undefined;
    // No common image: ship the whole image.
    this.mirrorMay = known ? [mirrorCp] : [];
    this.relationship = 'resyncing';
    this.resyncConfirmed = false;
    if (known) return this.startCp();
    this.startFullResync(mirrorSlot);
  }

  /**
   * A whole image on top of a mirror CP we do not know. Its slot avoids the mirror's committed root
   * too (`mirrorSlot`): that root is what a cut in the middle of the transfer falls back to, and the
   * mirror refuses a transfer that would overwrite any block of its committed image.
   */
  private startFullResync(mirrorSlot: number): void {
    this.cpInProgress = true;
    this.frozen = this.active;
    this.frozenLastSeq = this.nextSeq - 1;
    this.active = new Map();
    this.activeHalf = 1 - this.activeHalf;
    this.activeCount = 0;
    this.lastCpStart = this.ticks;
    const base = this.committed;
    const kept = this.kept();
    const slot = this.volume.freeSlot(kept, [mirrorSlot]);
    const cp = base.cp + 2;
    const { image, blocks } = this.volume.commitWrites(
      base,
      this.frozen,
      {
        cp,
        slot,
        coveredSeq: Math.max(base.coveredSeq, this.frozenLastSeq),
        promoted: false,
        pinned: [{ slot, cp }],
      },
      kept,
    );
    this.committed = image;
    this.images.set(image.cp, image);
    this.mirrorMay = [image.cp];
    this.awaiting = { cp: image.cp, sentAt: this.ticks };
    this.send({
      type: 'cp-sync',
      session: this.session,
      cp: image.cp,
      baseCp: NO_BASE,
      rootVbn: image.slot * this.layout.slotBlocks,
      blocks: this.delta(null, image, blocks),
    });
  }

  private checkInSync(): void {
    if (
      this.relationship === 'resyncing' &&
      this.resyncConfirmed &&
      this.outstanding.size === 0 &&
      !this.cpInProgress
    )
      this.relationship = 'in-sync';
  }
}
