// A test kit for impl/'s server tests: one source and the destination on small media, wired by hand.
// Messages pass as objects in the order sent; none is lost, late or corrupted unless a test does it.

import { Disk } from '../harness/media/disk.ts';
import { disksFor, type RaidGeometry } from '../harness/media/geometry.ts';
import { Nvram } from '../harness/media/nvram.ts';
import { Power } from '../harness/media/power.ts';
import { smallWorld } from '../harness/presets.ts';
import type { SourceSpec, WorldSpec } from '../harness/target.ts';
import { type DestinationConfig, type DestinationMedia, DestinationServer } from './destination_server.ts';
import { type Mode, type SourceConfig, type SourceMedia, SourceServer } from './source_server.ts';
import type { Message } from './wire.ts';

export const BLOCK_BYTES = 64;
export const LBA_COUNT = 16;
export const CP_INTERVAL_TICKS = 10;
export const ACK_TIMEOUT_TICKS = 4;
export const SEMI_SYNC_MAX_LAG_ENTRIES = 4;
export const NVLOG_HALF_ENTRIES = 4;

export interface Answer {
  readonly writeId: number;
  readonly ok: boolean;
  readonly error?: string;
}

export interface PairOptions {
  readonly mode?: Mode;
  /** Extra source configuration (the canary flags). */
  readonly source?: Partial<SourceConfig>;
  /** Extra destination configuration (the canary flags). */
  readonly destination?: Partial<DestinationConfig>;
}

/** A block whose every byte is `fill`. */
export function block(fill: number): Uint8Array {
  return new Uint8Array(BLOCK_BYTES).fill(fill);
}

function disks(prefix: string, g: RaidGeometry, power: Power): Disk[] {
  return Array.from(
    { length: disksFor(g) },
    (_, i) =>
      new Disk({ id: `${prefix}.d${i}`, blockCount: g.blocksPerDisk, blockBytes: g.blockBytes, power }),
  );
}

/** src0 and dst, with a 16-LBA volume of 64-byte blocks and NVLOG halves of 4 entries. */
export class ServerPair {
  readonly spec: WorldSpec;
  readonly sourceSpec: SourceSpec;
  readonly sourceConfig: SourceConfig;
  readonly destinationConfig: DestinationConfig;
  readonly sourceMedia: SourceMedia;
  readonly destinationMedia: DestinationMedia;
  source: SourceServer;
  destination: DestinationServer;
  /** In flight, in the order sent. */
  toDestination: Message[] = [];
  toSource: Message[] = [];
  /** Every message sent, each way, and every answer to a client, in order. */
  readonly sentBySource: Message[] = [];
  readonly sentByDestination: Message[] = [];
  readonly sourceAnswers: Answer[] = [];
  readonly destinationAnswers: Answer[] = [];

  constructor(options: PairOptions = {}) {
    this.spec = smallWorld({
      mode: options.mode ?? 'sync',
      blockBytes: BLOCK_BYTES,
      lbaCount: LBA_COUNT,
      nvlogHalfEntries: NVLOG_HALF_ENTRIES,
      cpIntervalTicks: CP_INTERVAL_TICKS,
      ackTimeoutTicks: ACK_TIMEOUT_TICKS,
    });
    this.sourceSpec = this.spec.sources[0]!;
    const s = this.sourceSpec;
    this.sourceConfig = {
      id: s.id,
      mode: s.mode,
      lbaCount: s.lbaCount,
      geometry: s.primary,
      cpIntervalTicks: this.spec.cpIntervalTicks,
      ackTimeoutTicks: this.spec.ackTimeoutTicks,
      semiSyncMaxLagEntries: SEMI_SYNC_MAX_LAG_ENTRIES,
      nvlogHalfEntries: s.nvlogHalfEntries,
      ...options.source,
    };
    this.destinationConfig = {
      id: 'dst',
      cpIntervalTicks: this.spec.cpIntervalTicks,
      mirrors: [{ source: s.id, lbaCount: s.lbaCount, mirror: s.mirror, logFile: s.logFile }],
      ...options.destination,
    };
    const sourcePower = new Power();
    this.sourceMedia = {
      nvram: new Nvram(s.nvramBytes, sourcePower),
      disks: disks('src0.primary', s.primary, sourcePower),
    };
    const destinationPower = new Power();
    this.destinationMedia = {
      groups: {
        'mirror:src0': disks('dst.mirror', s.mirror, destinationPower),
        'log:src0': disks('dst.log', s.logFile, destinationPower),
      },
    };
    this.source = SourceServer.format(this.sourceConfig, this.sourceMedia);
    this.destination = DestinationServer.format(this.destinationConfig, this.destinationMedia);
  }

  /** Moves each server's effects into the queues and answer lists. */
  collect(): void {
    for (const e of this.source.takeEffects()) {
      if (e.kind === 'send') {
        this.toDestination.push(e.message);
        this.sentBySource.push(e.message);
      } else this.sourceAnswers.push(answerOf(e));
    }
    for (const e of this.destination.takeEffects()) {
      if (e.kind === 'send') {
        if (e.to !== this.sourceSpec.id) throw new Error(`the destination sent to ${e.to}`);
        this.toSource.push(e.message);
        this.sentByDestination.push(e.message);
      } else this.destinationAnswers.push(answerOf(e));
    }
  }

  /** Delivers everything in flight, both ways, until nothing is (what the deliveries send included). */
  deliverAll(): void {
    for (let round = 0; round < 100; round++) {
      this.collect();
      if (this.toDestination.length === 0 && this.toSource.length === 0) return;
      const toDestination = this.toDestination.splice(0);
      const toSource = this.toSource.splice(0);
      for (const m of toDestination) this.destination.receive(this.sourceSpec.id, m);
      for (const m of toSource) this.source.receive(m);
    }
    throw new Error('messages still in flight after 100 rounds');
  }

  /** The link goes down: what is in flight is lost. */
  dropInFlight(): void {
    this.collect();
    this.toDestination = [];
    this.toSource = [];
  }

  write(writeId: number, lba: number, fill: number): void {
    this.source.clientWrite(writeId, lba, block(fill));
    this.collect();
  }

  /** Ticks both servers `ticks` times; with `deliver`, messages are delivered after each tick. */
  tick(ticks: number, deliver = true): void {
    for (let i = 0; i < ticks; i++) {
      this.source.tick();
      this.destination.tick();
      if (deliver) this.deliverAll();
      else this.collect();
    }
  }

  /** Power cut on the source: memory lost, media kept; restarted at once. */
  restartSource(): void {
    this.collect();
    this.toDestination = [];
    this.source = SourceServer.recover(this.sourceConfig, this.sourceMedia);
    this.collect();
  }

  /** Power cut on the destination: memory lost, media kept; restarted at once. */
  restartDestination(): void {
    this.collect();
    this.toSource = [];
    this.destination = DestinationServer.recover(this.destinationConfig, this.destinationMedia);
    this.collect();
  }

  answersTo(writeId: number): Answer[] {
    return [...this.sourceAnswers, ...this.destinationAnswers].filter((a) => a.writeId === writeId);
  }

  lastSentBySource(kind: Message['kind']): Message | undefined {
    return this.sentBySource.filter((m) => m.kind === kind).at(-1);
  }
}

/** An effect that is not a send is an answer; anything else is not an effect a server may return. */
function answerOf(e: { kind: string; writeId: number; ok: boolean; error?: string }): Answer {
  if (e.kind !== 'ack') throw new Error(`an effect of kind '${e.kind}'`);
  return e.error === undefined
    ? { writeId: e.writeId, ok: e.ok }
    : { writeId: e.writeId, ok: e.ok, error: e.error };
}
