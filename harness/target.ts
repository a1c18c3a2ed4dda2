// The conformance-target interface: the one door through which the simulated world, the model in
// lockstep, the schedules and a user's own code meet an implementation of CP-synchronous mirroring.
// A target does no I/O of its own: inputs come in, effects go out, media are the objects handed to it.

import type { Disk } from '../impl/disk.ts';
import type { Nvram } from '../impl/nvram.ts';
import type { Power } from '../impl/power.ts';
import type { RaidGeometry } from '../impl/raid.ts';

/** A server's name in a world: sources are 'src0', 'src1', ...; the destination is 'dst'. */
export type NodeId = string;

export const DESTINATION: NodeId = 'dst';

/** How a source acknowledges client writes (PROTOCOL.md, "Normal operation" step 3). */
export type Mode = 'sync' | 'strict-sync' | 'semi-sync';

export type RelationshipState = 'in-sync' | 'out-of-sync' | 'resyncing' | 'failed-over';

export interface SourceSpec {
  readonly id: NodeId;
  readonly mode: Mode;
  /** Logical blocks of the primary volume (and of its mirror). */
  readonly lbaCount: number;
  /** The source's RAID group. */
  readonly primary: RaidGeometry;
  /** The RAID group that holds this source's mirror volume on the destination: another geometry. */
  readonly mirror: RaidGeometry;
  /** The RAID group that holds this source's log file on the destination. */
  readonly logFile: RaidGeometry;
  /** NVRAM size of the source; the NVLOG uses it as two halves. */
  readonly nvramBytes: number;
}

/** Everything a target needs to know to build a world's servers; plain data, serialisable. */
export interface WorldSpec {
  readonly blockBytes: number;
  /** A CP starts every this many ticks of a source (or earlier, when the active NVLOG half fills). */
  readonly cpIntervalTicks: number;
  /** A source that has waited this many ticks for any answer from the destination goes out of sync. */
  readonly ackTimeoutTicks: number;
  /** semi-sync: how many log entries the destination may lag behind before writes wait. */
  readonly semiSyncMaxLagEntries: number;
  readonly sources: readonly SourceSpec[];
}

/**
 * The persistent media of one server, created and owned by the harness so that it can cut power
 * after any media write, fail disks and plant latent errors, whatever the target is.
 */
export interface NodeMedia {
  readonly power: Power;
  /** Sources only: the NVRAM holding the NVLOG. */
  readonly nvram?: Nvram;
  /**
   * RAID groups by name, data disks first then parity, in the order `createRaidGroup` uses.
   * A source has 'primary'; the destination has `mirror:<source>` and `log:<source>` per source.
   */
  readonly groups: Readonly<Record<string, Disk[]>>;
}

/** A client write: the harness draws the data, whose first bytes name the write (see write_identity.ts). */
export interface ClientWrite {
  readonly writeId: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

export type ReadResult =
  | { readonly ok: true; readonly data: Uint8Array }
  | { readonly ok: false; readonly error: string };

/** What a target asks the world to do. The world carries every effect out; a target never does. */
export type Effect =
  | { readonly kind: 'send'; readonly from: NodeId; readonly to: NodeId; readonly bytes: Uint8Array }
  /** The client's write is acknowledged (ok) or failed (error says why, e.g. strict-sync out of sync). */
  | {
      readonly kind: 'ack';
      readonly node: NodeId;
      readonly writeId: number;
      readonly ok: boolean;
      readonly error?: string;
    };

export interface SourceObservation {
  readonly up: boolean;
  readonly relationship: RelationshipState;
  /** The source's last committed CP (its primary volume's root). */
  readonly primaryCp: number;
  /** The destination's last committed CP of this source's mirror. */
  readonly mirrorCp: number;
  /** True while a CP is between its start and its commit on the source. */
  readonly cpInProgress: boolean;
  /** Client writes received and neither acknowledged nor failed yet (stalled or waiting for the mirror). */
  readonly pendingWrites: number;
}

export interface Observation {
  readonly destinationUp: boolean;
  readonly sources: Readonly<Record<NodeId, SourceObservation>>;
}

/** One record of the destination's log file for a source, as it is on disk now. */
export interface LogRecord {
  readonly source: NodeId;
  readonly seq: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

/** One running world of servers. Every method is synchronous and deterministic. */
export interface TargetInstance {
  // Inputs.
  clientWrite(source: NodeId, write: ClientWrite): void;
  /** Reads the primary (or, after failover, the promoted mirror) by LBA: the latest acknowledged data. */
  clientRead(source: NodeId, lba: number): ReadResult;
  /** A message the network delivers to `to`. Corrupted or truncated bytes must be rejected, not applied. */
  receive(to: NodeId, from: NodeId, bytes: Uint8Array): void;
  /** One tick of `node`'s clock. */
  tick(node: NodeId): void;
  /** Effects produced since the last call, in the order they were produced. */
  drainEffects(): Effect[];

  // Faults and operator actions. Power is cut by the harness through NodeMedia.power; a media write
  // then throws PowerLoss out of whatever call was running, and the harness calls crash().
  /** The node lost power: forget everything that is not on its media. */
  crash(node: NodeId): void;
  /** Power is back: mount from media, recover (NVLOG replay, torn log tail), reconnect. */
  restart(node: NodeId): void;
  /** The source is lost for good: promote the destination's mirror of it (log replay included). */
  failover(source: NodeId): void;
  /** A failed disk of `group` on `node` was replaced by the blank spare `spare`: rebuild onto it. */
  replaceDisk(node: NodeId, group: string, index: number, spare: Disk): void;

  // Observation: cheap enough to call after every step.
  observe(): Observation;
  /** The primary's committed image by LBA (not what is still in memory). */
  readPrimaryCommitted(source: NodeId, lba: number): Uint8Array;
  /** The destination's committed mirror image by LBA. */
  readMirrorCommitted(source: NodeId, lba: number): Uint8Array;
  /** The VBNs the committed image uses, on either side, for block-for-block comparison. */
  liveVbns(source: NodeId, side: 'primary' | 'mirror'): number[];
  readVbn(source: NodeId, side: 'primary' | 'mirror', vbn: number): Uint8Array;
  /** The destination's log file for `source` as it is on its disks. */
  logFile(source: NodeId): LogRecord[];
}

/** A conformance target: the reference implementation, a canary, or a user's module. */
export interface ConformanceTarget {
  readonly name: string;
  readonly description: string;
  /** 'pass' for a correct implementation; 'fail' for a canary the harness must catch. */
  readonly expected: 'pass' | 'fail';
  /** Boot a world on blank media the harness owns (the target formats them). */
  boot(spec: WorldSpec, media: Readonly<Record<NodeId, NodeMedia>>): TargetInstance;
}
