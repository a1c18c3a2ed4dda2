// The shadow-paging conformance target: harness/target.ts over shadow images, CRC'd binary frames, own NVLOG and log.
// Fault model: everything the world injects (power cuts, link and disk faults, failover); bad frames are dropped.

import type { Disk } from '../harness/media/disk.ts';
import {
  type ConformanceTarget,
  DESTINATION,
  type Effect,
  type LogRecord,
  type NodeId,
  type NodeMedia,
  type Observation,
  type ReadResult,
  type SourceObservation,
  type TargetInstance,
  type WorldSpec,
} from '../harness/target.ts';
import { ShadowDestination } from './shadow_destination.ts';
import { ShadowSource } from './shadow_source.ts';
import { decode, encode } from './shadow_wire.ts';

export function shadowPagingTarget(): ConformanceTarget {
  return {
    name: 'shadow-paging',
    description:
      'an independent design: shadow-paged images in four root/table slots, CPs numbered 2, 4, 6, ...',
    expected: 'pass',
    boot: (spec, media) => new ShadowWorld(spec, media),
  };
}

export const target = shadowPagingTarget();

interface Seen {
  primaryCp: number;
  mirrorCp: number;
  promoted: boolean;
}

class ShadowWorld implements TargetInstance {
  private readonly spec: WorldSpec;
  private readonly media: Readonly<Record<NodeId, NodeMedia>>;
  private readonly sources = new Map<NodeId, ShadowSource>();
  private destination: ShadowDestination | null;
  private effects: Effect[] = [];
  /** What each console last showed: a down server's fields (rule O1). */
  private readonly seen = new Map<NodeId, Seen>();

  constructor(spec: WorldSpec, media: Readonly<Record<NodeId, NodeMedia>>) {
    this.spec = spec;
    this.media = media;
    for (const s of spec.sources) {
      const m = this.sourceMedia(s.id);
      this.sources.set(s.id, ShadowSource.format(s, spec, m.disks, m.nvram));
      this.seen.set(s.id, { primaryCp: 0, mirrorCp: 0, promoted: false });
    }
    this.destination = ShadowDestination.format(spec, media[DESTINATION]!);
  }

  clientWrite(source: NodeId, write: { writeId: number; lba: number; data: Uint8Array }): void {
    try {
      if (this.promoted(source)) this.dst().clientWrite(source, write.writeId, write.lba, write.data);
      else this.src(source).clientWrite(write.writeId, write.lba, write.data);
    } finally {
      this.collect();
    }
  }

  clientRead(source: NodeId, lba: number): ReadResult {
    try {
      const data = this.promoted(source)
        ? this.dst().readCommitted(source, lba)
        : this.src(source).clientRead(lba);
      return { ok: true, data };
    } catch (e) {
      if (e instanceof RangeError || (e instanceof Error && e.name === 'RaidFailure'))
        return { ok: false, error: e.message };
      throw e;
    } finally {
      this.collect();
    }
  }

  receive(to: NodeId, from: NodeId, bytes: Uint8Array): void {
    const message = decode(bytes);
    if (!message) return; // Corrupted or truncated: dropped, never applied.
    try {
      if (to === DESTINATION) this.destination?.receive(from, message);
      else this.sources.get(to)?.receive(message);
    } finally {
      this.collect();
    }
  }

  tick(node: NodeId): void {
    try {
      // The destination answers on receipt; it has nothing to do on its own clock.
      if (node !== DESTINATION) this.sources.get(node)?.tick();
    } finally {
      this.collect();
    }
  }

  drainEffects(): Effect[] {
    this.collect();
    const out = this.effects;
    this.effects = [];
    return out;
  }

  crash(node: NodeId): void {
    this.collect();
    this.remember();
    // A root write the cut interrupted may have landed whole: that CP is committed, and is what was shown.
    if (node === DESTINATION) {
      const d = this.destination;
      if (d) for (const s of this.spec.sources) this.seen.get(s.id)!.mirrorCp = d.mirrorCpAfterCut(s.id);
      this.destination = null;
    } else {
      const s = this.sources.get(node);
      if (s) this.seen.get(node)!.primaryCp = s.cpAfterCut();
      this.sources.delete(node);
    }
  }

  restart(node: NodeId): void {
    try {
      if (node === DESTINATION) this.destination = ShadowDestination.recover(this.spec, this.media[node]!);
      else {
        const spec = this.spec.sources.find((s) => s.id === node)!;
        const m = this.sourceMedia(node);
        this.sources.set(node, ShadowSource.recover(spec, this.spec, m.disks, m.nvram));
      }
    } finally {
      this.collect();
    }
  }

  failover(source: NodeId): void {
    try {
      this.dst().failover(source);
      this.remember();
    } finally {
      this.collect();
    }
  }

  replaceDisk(node: NodeId, group: string, index: number, spare: Disk): void {
    if (node === DESTINATION) this.destination?.replaceDisk(group, index, spare);
    else this.sources.get(node)?.replaceDisk(index, spare);
  }

  scrub(node: NodeId): void {
    if (node === DESTINATION) this.destination?.scrub();
    else this.sources.get(node)?.scrub();
  }

  observe(): Observation {
    this.remember();
    const sources: Record<NodeId, SourceObservation> = {};
    for (const s of this.spec.sources) {
      const server = this.sources.get(s.id);
      const seen = this.seen.get(s.id)!;
      sources[s.id] = {
        up: server !== undefined,
        relationship: seen.promoted ? 'failed-over' : (server?.relationship ?? 'out-of-sync'),
        primaryCp: seen.primaryCp,
        mirrorCp: seen.mirrorCp,
        cpInProgress: server?.cpInProgress ?? false,
        pendingWrites: server?.pendingWrites ?? 0,
      };
    }
    return { destinationUp: this.destination !== null, sources };
  }

  readPrimaryCommitted(source: NodeId, lba: number): Uint8Array {
    return this.src(source).readCommitted(lba);
  }

  readMirrorCommitted(source: NodeId, lba: number): Uint8Array {
    return this.dst().readCommitted(source, lba);
  }

  liveVbns(source: NodeId, side: 'primary' | 'mirror'): number[] {
    return side === 'primary' ? this.src(source).liveVbns() : this.dst().liveVbns(source);
  }

  readVbn(source: NodeId, side: 'primary' | 'mirror', vbn: number): Uint8Array {
    return side === 'primary' ? this.src(source).readVbn(vbn) : this.dst().readVbn(source, vbn);
  }

  logFile(source: NodeId): LogRecord[] {
    return this.dst()
      .logRecords(source)
      .map((r) => ({ source, seq: r.seq, lba: r.lba, data: r.data }));
  }

  private remember(): void {
    for (const s of this.spec.sources) {
      const seen = this.seen.get(s.id)!;
      const server = this.sources.get(s.id);
      if (server) seen.primaryCp = server.committed.cp;
      if (this.destination) {
        seen.mirrorCp = this.destination.mirrorCp(s.id);
        seen.promoted = this.destination.isPromoted(s.id);
      }
    }
  }

  private promoted(source: NodeId): boolean {
    return this.destination?.isPromoted(source) ?? this.seen.get(source)?.promoted ?? false;
  }

  /** Effects leave in the order they were produced; a source's go to the destination. */
  private collect(): void {
    for (const [id, server] of this.sources)
      for (const e of server.takeEffects())
        this.effects.push(
          e.kind === 'send'
            ? { kind: 'send', from: id, to: DESTINATION, bytes: encode(e.message) }
            : { kind: 'ack', node: id, writeId: e.writeId, ok: e.ok, ...(e.error ? { error: e.error } : {}) },
        );
    if (!this.destination) return;
    for (const e of this.destination.takeEffects())
      this.effects.push(
        e.kind === 'send'
          ? { kind: 'send', from: DESTINATION, to: e.to, bytes: encode(e.message) }
          : {
              kind: 'ack',
              node: DESTINATION,
              writeId: e.writeId,
              ok: e.ok,
              ...(e.error ? { error: e.error } : {}),
            },
      );
  }

  private src(id: NodeId): ShadowSource {
    const s = this.sources.get(id);
    if (!s) throw new RangeError(`source ${id} is down`);
    return s;
  }

  private dst(): ShadowDestination {
    if (!this.destination) throw new RangeError('the destination is down');
    return this.destination;
  }

  private sourceMedia(id: NodeId): { disks: Disk[]; nvram: NonNullable<NodeMedia['nvram']> } {
    const m = this.media[id];
    if (!m?.nvram || !m.groups.primary) throw new RangeError(`source '${id}' has no NVRAM or primary group`);
    return { disks: m.groups.primary, nvram: m.nvram };
  }
}
