// The shadow-paging destination: per source a mirror volume at the source's VBNs (its own RAID) and a log file.
// Fault model: power cut after any media write, torn or whole; messages lost, duplicated, reordered or late.
// A mirror group past its tolerance (RAID refusing a transfer) is lost for good: its CP syncs go
// unconfirmed, its log file carries on.

import type { Disk } from '../harness/media/disk.ts';
import type { NodeId, NodeMedia, SourceSpec, WorldSpec } from '../harness/target.ts';
import { assembleRaidGroup, type RaidGroup } from '../impl/raid.ts';
import { rebuildBlankDisks } from './shadow_disks.ts';
import { type LogEntry, ShadowLogFile } from './shadow_log_file.ts';
import { type Image, layoutFor, ShadowVolume } from './shadow_volume.ts';
import { type Message, NO_BASE } from './shadow_wire.ts';

export type DestinationEffect =
  | { readonly kind: 'send'; readonly to: NodeId; readonly message: Message }
  | { readonly kind: 'ack'; readonly writeId: number; readonly ok: boolean; readonly error?: string };

class Mirror {
  readonly source: NodeId;
  readonly volume: ShadowVolume;
  readonly log: ShadowLogFile;
  committed: Image;
  /** Highest session heard from the source: older sessions' messages are stale and ignored. */
  fence = 0;
  /** Why the mirror is lost (RAID refused a transfer), null while it serves. Kept in memory only. */
  lostBecause: string | null = null;

  constructor(source: NodeId, volume: ShadowVolume, log: ShadowLogFile, committed: Image) {
    this.source = source;
    this.volume = volume;
    this.log = log;
    this.committed = committed;
  }

  get promoted(): boolean {
    return this.log.promoted;
  }
}

export class ShadowDestination {
  private readonly mirrors = new Map<NodeId, Mirror>();
  private effects: DestinationEffect[] = [];

  private constructor() {}

  static format(world: WorldSpec, media: NodeMedia): ShadowDestination {
    const d = new ShadowDestination();
    for (const s of world.sources) {
      const { volume, logGroup } = groupsOf(world, s, media);
      const committed = volume.format();
      d.mirrors.set(s.id, new Mirror(s.id, volume, ShadowLogFile.format(logGroup, s.id), committed));
    }
    return d;
  }

  /** Mount each mirror's last valid root (an interrupted CP sync left the previous one) and log file. */
  static recover(world: WorldSpec, media: NodeMedia): ShadowDestination {
    const d = new ShadowDestination();
    for (const s of world.sources) {
      const { volume, logGroup } = groupsOf(world, s, media);
      rebuildBlankDisks(volume.group, media.groups[`mirror:${s.id}`]!);
      rebuildBlankDisks(logGroup, media.groups[`log:${s.id}`]!);
      volume.group.resyncParity();
      logGroup.resyncParity();
      const log = ShadowLogFile.mount(logGroup, s.id);
      const m = new Mirror(s.id, volume, log, volume.mount());
      d.mirrors.set(s.id, m);
      // A failover the power cut interrupted: its marker is on disk, so it finishes now.
      if (log.promoted && !m.committed.promoted) d.promote(m);
    }
    return d;
  }

  takeEffects(): DestinationEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  mirror(source: NodeId): Mirror {
    const m = this.mirrors.get(source);
    if (!m) throw new RangeError(`no mirror of '${source}'`);
    return m;
  }

  mirrorCp(source: NodeId): number {
    return this.mirror(source).committed.cp;
  }

  /** The mirror CP after a power cut: a root in flight counts if it landed whole. */
  mirrorCpAfterCut(source: NodeId): number {
    const m = this.mirror(source);
    return m.volume.landedRootCp() ?? m.committed.cp;
  }

  isPromoted(source: NodeId): boolean {
    return this.mirror(source).promoted;
  }

  receive(from: NodeId, msg: Message): void {
    const m = this.mirrors.get(from);
    if (!m || m.promoted) return;
    if (msg.type === 'status' || msg.type === 'log-ack' || msg.type === 'confirm') return;
    if (msg.session < m.fence) return;
    m.fence = msg.session;
    const reply = (message: Message): void => {
      this.effects.push({ kind: 'send', to: from, message });
    };
    switch (msg.type) {
      case 'hello':
        return reply({
          type: 'status',
          session: msg.session,
          mirrorCp: m.committed.cp,
          mirrorSlot: m.committed.slot,
        });
      case 'entry': {
        const covered = m.committed.coveredSeq;
        const logged =
          msg.seq <= covered ||
          m.log.has(msg.seq) ||
          m.log.append({ seq: msg.seq, lba: msg.lba, data: msg.data }, covered);
        if (logged) reply({ type: 'log-ack', session: msg.session, seq: msg.seq });
        return;
      }
      case 'cp-sync': {
        if (msg.cp === m.committed.cp) return reply({ type: 'confirm', session: msg.session, cp: msg.cp });
        if (m.lostBecause !== null) return;
        // A delta applies only on top of the image it was computed against; anything else is stale.
        if (msg.cp < m.committed.cp || (msg.baseCp !== NO_BASE && msg.baseCp !== m.committed.cp)) return;
        const L = m.volume.layout;
        if (msg.rootVbn % L.slotBlocks !== 0 || msg.rootVbn >= L.dataStart) return;
        if (msg.blocks.some((b) => b.vbn >= L.vbnLimit || b.data.length !== L.blockBytes)) return;
        // Shadow paging: the committed image is the one a power cut falls back to (mount takes the
        // highest valid root), so no write of a transfer may change its root, table or data before the
        // new root is durable. The source allocates around every image the mirror may hold, so a
        // transfer that would is a source that lost track of this mirror: refused (never confirmed),
        // rather than risking a mirror with no valid root, or a root over other data, after a cut.
        let image: Image | null;
        try {
          if (m.volume.overwritesImage(m.committed, msg.blocks)) return;
          m.volume.applyBlocks(msg.blocks, msg.rootVbn, msg.cp);
          image = m.volume.readSlot(msg.rootVbn / L.slotBlocks);
        } catch (e) {
          if (!(e instanceof Error) || e.name !== 'RaidFailure') throw e;
          m.lostBecause = e.message;
          return;
        }
        if (!image || image.cp !== msg.cp) return;
        m.committed = image;
        return reply({ type: 'confirm', session: msg.session, cp: msg.cp });
      }
    }
  }

  logRecords(source: NodeId): LogEntry[] {
    const m = this.mirror(source);
    return m.log.records(m.committed.coveredSeq);
  }

  /** Promote the mirror: mark it durably first, then replay the log file after its CP into a new CP. */
  failover(source: NodeId): void {
    const m = this.mirror(source);
    if (m.promoted) return;
    m.log.writeSuper(true);
    this.promote(m);
  }

  private promote(m: Mirror): void {
    const writes = new Map<number, Uint8Array>();
    let last = m.committed.coveredSeq;
    // Only the unbroken run after the mirror's CP: an entry after a gap was never acknowledged in sync,
    // and applying it without the missing one would make a mixture of no CP image.
    for (const r of m.log.records(m.committed.coveredSeq)) {
      if (r.seq !== last + 1) break;
      if (r.lba < m.volume.layout.lbaCount) writes.set(r.lba, r.data);
      last = r.seq;
    }
    this.commit(m, writes, last);
  }

  /** One promoted CP: only the committed image is kept (no mirror of it exists any more). */
  private commit(m: Mirror, writes: ReadonlyMap<number, Uint8Array>, coveredSeq: number): void {
    const kept = [m.committed];
    const slot = m.volume.freeSlot(kept);
    const cp = m.committed.cp + 2;
    const { image } = m.volume.commitWrites(
      m.committed,
      writes,
      { cp, slot, coveredSeq, promoted: true, pinned: [] },
      kept,
    );
    m.committed = image;
  }

  /** A promoted volume's client write is durable (its own CP) before it is acknowledged. */
  clientWrite(source: NodeId, writeId: number, lba: number, data: Uint8Array): void {
    const m = this.mirror(source);
    if (!m.promoted || !Number.isInteger(lba) || lba < 0 || lba >= m.volume.layout.lbaCount) {
      this.effects.push({ kind: 'ack', writeId, ok: false, error: `cannot write lba ${lba} of ${source}` });
      return;
    }
    try {
      this.commit(m, new Map([[lba, data]]), m.committed.coveredSeq);
    } catch (e) {
      if (e instanceof Error && e.name === 'RaidFailure') {
        this.effects.push({ kind: 'ack', writeId, ok: false, error: e.message });
        return;
      }
      throw e;
    }
    this.effects.push({ kind: 'ack', writeId, ok: true });
  }

  readCommitted(source: NodeId, lba: number): Uint8Array {
    const m = this.mirror(source);
    return m.volume.readLba(m.committed, lba);
  }

  liveVbns(source: NodeId): number[] {
    const m = this.mirror(source);
    return m.volume.liveVbns(m.committed);
  }

  readVbn(source: NodeId, vbn: number): Uint8Array {
    return this.mirror(source).volume.group.read(vbn);
  }

  replaceDisk(group: string, index: number, spare: Disk): void {
    const [kind, source] = group.split(':');
    const m = this.mirror(source!);
    (kind === 'log' ? m.log.group : m.volume.group).replaceAndRebuild(index, spare);
  }

  /** Every mirror's and log file's group scrubbed (rule D3). */
  scrub(): void {
    for (const m of this.mirrors.values()) {
      m.volume.group.scrub();
      m.log.group.scrub();
    }
  }
}

function groupsOf(
  world: WorldSpec,
  s: SourceSpec,
  media: NodeMedia,
): { volume: ShadowVolume; logGroup: RaidGroup } {
  const mirrorDisks = media.groups[`mirror:${s.id}`];
  const logDisks = media.groups[`log:${s.id}`];
  if (!mirrorDisks || !logDisks) throw new RangeError(`destination has no groups for '${s.id}'`);
  const layout = layoutFor(s.lbaCount, world.blockBytes, s.primary, s.mirror);
  return {
    volume: new ShadowVolume(assembleRaidGroup(s.mirror, mirrorDisks), layout),
    logGroup: assembleRaidGroup(s.logFile, logDisks),
  };
}
