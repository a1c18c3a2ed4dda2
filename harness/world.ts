// The simulated world: servers of one conformance target on media the world owns, a simulated network,
// and a clock in ticks. Fault model: power cuts (now, or after the k-th media write, torn or whole),
// partitions and lossy links, disk failures, latent sector errors and disk replacement, failover.
// One seed, split once into a child per component, makes every run; the same seed and actions give the
// same trace, byte for byte.

import { Causality } from './causality.ts';
import { DiskFaults } from './disk_faults.ts';
import { checksum } from './media/checksum.ts';
import { Disk } from './media/disk.ts';
import { PowerLoss } from './media/errors.ts';
import type { RaidGeometry } from './media/geometry.ts';
import { disksFor, toleranceOfLevel } from './media/geometry.ts';
import { Nvram } from './media/nvram.ts';
import { Power } from './media/power.ts';
import { Prng } from './prng.ts';
import {
  type Delivery,
  type DroppedMessage,
  type LinkFaults,
  type MessageFault,
  PERFECT_LINK,
  SimNetwork,
} from './sim_network.ts';
import {
  type ConformanceTarget,
  DESTINATION,
  type Effect,
  type MessageDescription,
  type NodeId,
  type NodeMedia,
  type Observation,
  type ReadResult,
  type TargetInstance,
  type WorldSpec,
} from './target.ts';
import { effectProblem, observationProblem } from './target_contract.ts';
import { type DataPattern, WriteContents } from './write_contents.ts';
import { writeData } from './write_identity.ts';

/** What a schedule can make happen: client requests, time, and the environment's faults. */
export type WorldAction =
  /** `data`: how the write's data is drawn (write_contents.ts); without it, fresh data naming the write. */
  | { readonly kind: 'write'; readonly source: NodeId; readonly lba: number; readonly data?: DataPattern }
  /**
   * `count` writes in one step, to LBAs `from`, `from + stride`, ... (modulo the volume): stride 1 is a
   * sequential fill (spanning many stripes), stride 0 overwrites one LBA again and again. With `span`,
   * the offsets wrap at `span`: stride 1 cycles over a hot set of `span` LBAs, overwriting each in turn.
   * `data` draws each write's data, as a single write's.
   */
  | {
      readonly kind: 'burst';
      readonly source: NodeId;
      readonly from: number;
      readonly count: number;
      readonly stride: number;
      readonly span?: number;
      readonly data?: DataPattern;
    }
  | { readonly kind: 'read'; readonly source: NodeId; readonly lba: number }
  | { readonly kind: 'tick'; readonly ticks: number }
  | { readonly kind: 'partition'; readonly source: NodeId }
  | { readonly kind: 'heal'; readonly source: NodeId }
  /** Without `afterWrites`, power goes now; with it, right after the node's k-th media write from now. */
  | { readonly kind: 'crash'; readonly node: NodeId; readonly afterWrites?: number; readonly torn?: boolean }
  | { readonly kind: 'restart'; readonly node: NodeId }
  /**
   * `beyond`: the failure takes a source's primary group (rule D4) or a mirror group on the
   * destination (rule D5) past its tolerance; the fault atlas lets it happen only then, and only when
   * every outstanding fault of the group is a failed disk.
   */
  | {
      readonly kind: 'fail-disk';
      readonly node: NodeId;
      readonly group: string;
      readonly index: number;
      readonly beyond?: boolean;
    }
  | {
      readonly kind: 'latent-error';
      readonly node: NodeId;
      readonly group: string;
      readonly index: number;
      readonly dbn: number;
    }
  /**
   * A blank spare replaces the disk, and the node rebuilds onto it. With `cutAfterWrites`, power is cut
   * right after the node's k-th media write of the rebuild (torn or whole); a rebuild of fewer writes
   * finishes uncut.
   */
  | {
      readonly kind: 'replace-disk';
      readonly node: NodeId;
      readonly group: string;
      readonly index: number;
      readonly cutAfterWrites?: number;
      readonly torn?: boolean;
    }
  /** The node scrubs its RAID groups (TargetInstance.scrub): every latent error within tolerance repaired. */
  | { readonly kind: 'scrub'; readonly node: NodeId }
  | { readonly kind: 'failover'; readonly source: NodeId }
  /** Aims a fault at the next message sent from `from` to `to` (sim_network.ts, MessageFault). */
  | {
      readonly kind: 'message-fault';
      readonly from: NodeId;
      readonly to: NodeId;
      readonly fault: MessageFault;
    }
  /** The source's link delays every message by `ticks` (more than the ack timeout) until `speed-up`. */
  | { readonly kind: 'slow'; readonly source: NodeId; readonly ticks: number }
  | { readonly kind: 'speed-up'; readonly source: NodeId }
  /** The node stops for `ticks` ticks without crashing: no ticks, and what arrives for it waits. */
  | { readonly kind: 'pause'; readonly node: NodeId; readonly ticks: number }
  /** The node's clock runs slow: it misses every `skipEvery`-th world tick (0: on time again). */
  | { readonly kind: 'drift'; readonly node: NodeId; readonly skipEvery: number }
  /** A client read or write of an LBA at or past the end of the volume (rule R2: it must be refused). */
  | {
      readonly kind: 'out-of-range';
      readonly source: NodeId;
      readonly op: 'read' | 'write';
      readonly lba: number;
    };

export interface WriteRecord {
  readonly writeId: number;
  readonly source: NodeId;
  readonly lba: number;
  readonly issuedTick: number;
  /** The serving node's own clock when the write was issued (rule A4 counts in it). */
  readonly issuedLocalTick: number;
  /** The network's last send number when the write was issued (causality.ts: rule A1's round trip). */
  readonly sendsAtIssue: number;
  /** The server the write was sent to: the source, or the destination after a failover. */
  servedBy?: NodeId;
  /** undefined while the client still waits. */
  outcome?: {
    readonly ok: boolean;
    readonly error?: string;
    readonly tick: number;
    /** The world answered, not the target: the server went down (or was down) before answering. */
    readonly byWorld?: boolean;
  };
}

/**
 * A client request for an LBA outside the volume (rule R2). Kept apart from `writes` and `reads`: the
 * model and the other properties never see it; a write takes a write id from OUT_OF_RANGE_WRITE_IDS up.
 */
export interface OutOfRangeRecord {
  readonly source: NodeId;
  readonly op: 'read' | 'write';
  readonly lba: number;
  readonly issuedTick: number;
  /** The serving node's own clock when it was issued (its deadline is rule A4's, in that clock). */
  readonly issuedLocalTick: number;
  readonly servedBy: NodeId;
  /** Writes only. */
  readonly writeId?: number;
  /** undefined while a write's client still waits; a read is answered at once. */
  outcome?: {
    readonly ok: boolean;
    readonly error?: string;
    readonly tick: number;
    /** The world answered: the server was or went down; the target said nothing. */
    readonly byWorld?: boolean;
  };
}

/** Out-of-range writes take ids from here up, far above any schedule's own writes. */
export const OUT_OF_RANGE_WRITE_IDS = 0x4000_0000;

export interface ReadRecord {
  readonly source: NodeId;
  readonly lba: number;
  readonly tick: number;
  readonly result: ReadResult;
  /** The world answered: the server was down or lost power during the read; the target said nothing. */
  readonly byWorld: boolean;
}

/**
 * A message the network handed to a node that was up, kept for observation only (tests count what
 * crossed the wire with it, decoding it in the target's own format); the target receives the same bytes.
 */
export interface DeliveryRecord {
  readonly tick: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly duplicate: boolean;
  /** The bytes as delivered (after any corruption or truncation on the way). */
  readonly bytes: Uint8Array;
}

/**
 * What happened to messages, client answers and power, as data, in the order it happened: kept with
 * the trace (cli/html_report.ts draws a run from it). A message is sent, then delivered (once, or twice
 * when duplicated) or dropped; one that is neither was still in flight when the run ended. `id` is
 * the network's send number; `message` is the trace's description of the bytes as sent.
 */
export type WorldEvent =
  | {
      readonly kind: 'send';
      readonly tick: number;
      readonly id: number;
      readonly from: NodeId;
      readonly to: NodeId;
      /**
       * The kind the target's describeMessage gave (the reference's: Message['kind']), and for a CP sync
       * whether it is a resync transfer; null when it does not decode, or the target describes nothing.
       */
      readonly type: string | null;
      readonly resync: boolean;
      readonly message: string;
    }
  | {
      readonly kind: 'deliver';
      readonly tick: number;
      readonly id: number;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly duplicate: boolean;
      /** The bytes that arrived do not decode (corrupted or truncated on the way, or not our wire format). */
      readonly undecodable: boolean;
    }
  | {
      readonly kind: 'drop';
      readonly tick: number;
      readonly id: number;
      readonly from: NodeId;
      readonly to: NodeId;
      readonly duplicate: boolean;
      /** Cut by a partition, lost on the link, dropped in flight by a crash, or arrived at a node that was down. */
      readonly reason: 'partition' | 'loss' | 'crash' | 'down';
    }
  | {
      readonly kind: 'answer';
      readonly tick: number;
      readonly writeId: number;
      readonly ok: boolean;
      readonly error?: string;
      /** The world answered for a server that was or went down; the target said nothing. */
      readonly byWorld: boolean;
    }
  | {
      readonly kind: 'power-lost';
      readonly tick: number;
      readonly node: NodeId;
      readonly mediaWrites: number;
    };

/** A target broke the interface's contract (threw something other than a power loss). */
export class TargetError extends Error {
  override readonly name = 'TargetError';
  constructor(
    readonly target: string,
    readonly call: string,
    override readonly cause: unknown,
  ) {
    super(`target '${target}' threw in ${call}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** A target returned a value of the wrong shape (harness/target_contract.ts says what is wrong). */
export class MalformedOutput extends TargetError {
  constructor(target: string, call: string, problem: string) {
    super(target, call, new Error(problem));
    this.message = `target '${target}' returned a malformed ${call === 'observe' ? 'observation' : 'effect'} from ${call}(): ${problem}`;
  }
}

export interface WorldOptions {
  readonly spec: WorldSpec;
  readonly target: ConformanceTarget;
  readonly seed: number;
  /** Faults of every source–destination link; a perfect one-tick link when absent. */
  readonly linkFaults?: LinkFaults;
  /** Keep the human-readable trace (on by default; a campaign may turn it off for speed). */
  readonly trace?: boolean;
  /** Keep `deliveries`, every delivered message's bytes (off by default). */
  readonly recordDeliveries?: boolean;
}

export class World {
  readonly spec: WorldSpec;
  readonly target: ConformanceTarget;
  readonly seed: number;
  readonly nodes: readonly NodeId[];
  readonly media: Record<NodeId, NodeMedia>;
  readonly network: SimNetwork;
  readonly instance: TargetInstance;
  readonly writes: WriteRecord[] = [];
  /** The data of every client write, by write id, and the writes a block read back may be. */
  readonly contents: WriteContents;
  readonly reads: ReadRecord[] = [];
  /** Requests for LBAs outside the volume, in the order they were issued (rule R2). */
  readonly outOfRange: OutOfRangeRecord[] = [];
  readonly trace: string[] = [];
  /** Write ids in the order their clients were answered (ok or error). */
  readonly answers: number[] = [];
  /** Bytes each node has put on the network, cumulative. */
  readonly bytesSent = new Map<NodeId, number>();
  /** Messages each node has put on the network, cumulative. */
  readonly messagesSent = new Map<NodeId, number>();
  /** Filled only with `recordDeliveries`: what the network delivered to nodes that were up, in order. */
  readonly deliveries: DeliveryRecord[] = [];
  /** Filled with the trace: messages, answers and power cuts as data (see WorldEvent). */
  readonly events: WorldEvent[] = [];
  /** Disk faults drawn by the world's own PRNG (e.g. which block rots) come from here. */
  readonly faultPrng: Prng;
  /** The disk faults this world injected and which are still there, read off its disks. */
  readonly diskFaults: DiskFaults;
  /**
   * Sources whose primary group lost more disks than it tolerates (rule D4): offline for good. Each
   * maps to the highest write id issued before the loss.
   */
  readonly lostVolumes = new Map<NodeId, number>();
  /**
   * Sources whose mirror group on the destination lost more disks than it tolerates (rule D5): that
   * mirror is offline for good. Each maps to the highest write id issued before the loss.
   */
  readonly lostMirrors = new Map<NodeId, number>();
  /** Who heard from whom: numbered sends and deliveries, kept by the world (rule A1). */
  readonly causality = new Causality();
  /** Per node, the last tick it lost power or came back (rule L1). */
  readonly powerEventTick = new Map<NodeId, number>();
  /** Per node, the last tick a pause of it began or ended (rule L1 counts a paused destination). */
  readonly pauseEventTick = new Map<NodeId, number>();
  /** Paused nodes, and the world tick each resumes at. */
  private readonly pausedUntil = new Map<NodeId, number>();
  /** Drifting nodes: each misses every k-th world tick. */
  private readonly skipEvery = new Map<NodeId, number>();
  /** Messages that arrived for a paused node, in order: delivered when it resumes. */
  private held: Delivery[] = [];
  /** Per node, its own clock: the ticks it was given, at the end of each world tick (index = tick). */
  private readonly localClock = new Map<NodeId, number[]>();
  private readonly keepTrace: boolean;
  private readonly keepDeliveries: boolean;
  private readonly up = new Map<NodeId, boolean>();
  private readonly writeById = new Map<number, WriteRecord>();
  private readonly outOfRangeById = new Map<number, OutOfRangeRecord>();
  private spareCount = 0;
  private nowTick = 0;

  constructor(options: WorldOptions) {
    this.spec = options.spec;
    this.contents = new WriteContents(options.spec.blockBytes);
    this.target = options.target;
    this.seed = options.seed;
    this.keepTrace = options.trace ?? true;
    this.keepDeliveries = options.recordDeliveries ?? false;
    // The child seeds are drawn once, in a fixed order: adding a draw to one component never shifts another's.
    const root = new Prng(options.seed);
    const networkPrng = root.split();
    this.faultPrng = root.split();
    this.nodes = [...options.spec.sources.map((s) => s.id), DESTINATION];
    this.media = makeMedia(options.spec);
    this.diskFaults = new DiskFaults(this.media);
    this.network = new SimNetwork(networkPrng, {
      nodes: this.nodes,
      defaults: options.linkFaults ?? PERFECT_LINK,
      ...(this.keepTrace
        ? { onDrop: (m: DroppedMessage) => this.events.push({ kind: 'drop', tick: this.nowTick, ...m }) }
        : {}),
    });
    for (const node of this.nodes) this.up.set(node, true);
    for (const node of this.nodes) this.localClock.set(node, [0]);
    // Booting formats blank media; a power cut cannot be armed yet, so any exception is the target's.
    this.instance = this.guardObserve('boot', () => options.target.boot(options.spec, this.media));
    this.routeEffects();
  }

  get now(): number {
    return this.nowTick;
  }

  isUp(node: NodeId): boolean {
    return this.up.get(node) ?? false;
  }

  observe(): Observation {
    const obs = this.guardObserve('observe', () => this.instance.observe());
    const problem = observationProblem(obs, this.spec);
    if (problem !== null) throw new MalformedOutput(this.target.name, 'observe', problem);
    return obs;
  }

  isPaused(node: NodeId): boolean {
    return this.pausedUntil.has(node);
  }

  isDrifting(node: NodeId): boolean {
    return this.skipEvery.has(node);
  }

  /** The node's own clock now: the ticks it was given (a paused or slow node gets fewer). */
  localTick(node: NodeId): number {
    const clock = this.localClock.get(node)!;
    return clock[clock.length - 1]!;
  }

  /** The node's own clock at the end of world tick `tick` (clamped to the run). */
  localTickAt(node: NodeId, tick: number): number {
    const clock = this.localClock.get(node)!;
    return clock[Math.max(0, Math.min(clock.length - 1, Math.floor(tick)))]!;
  }

  /** Ends every pause and drift: the start of a liveness phase. */
  resumeAll(): void {
    for (const node of this.pausedUntil.keys()) this.pauseEventTick.set(node, this.nowTick);
    this.pausedUntil.clear();
    this.skipEvery.clear();
  }

  /** The LBAs of a source's volume. */
  lbaCount(source: NodeId): number {
    const s = this.spec.sources.find((x) => x.id === source);
    if (!s) throw new RangeError(`no source ${source}`);
    return s.lbaCount;
  }

  writeRecord(writeId: number): WriteRecord | undefined {
    return this.writeById.get(writeId);
  }

  /** Carries out one action; a power cut inside it crashes the node, it does not end the run. */
  step(action: WorldAction): void {
    switch (action.kind) {
      case 'write':
        return this.clientWrite(action.source, action.lba, action.data);
      case 'burst':
        for (const lba of burstLbas(action, this.lbaCount(action.source)))
          this.clientWrite(action.source, lba, action.data);
        return;
      case 'read':
        return this.clientRead(action.source, action.lba);
      case 'tick':
        for (let i = 0; i < action.ticks; i++) this.tickOnce();
        return;
      case 'partition':
        this.network.partition(action.source, DESTINATION);
        // What waits for a paused node is still on the link: the partition drops it too.
        this.held = this.held.filter((d) => {
          const cut =
            (d.from === action.source && d.to === DESTINATION) ||
            (d.to === action.source && d.from === DESTINATION);
          if (cut && this.keepTrace)
            this.events.push({
              kind: 'drop',
              tick: this.nowTick,
              id: d.id,
              from: d.from,
              to: d.to,
              duplicate: d.duplicate,
              reason: 'partition',
            });
          return !cut;
        });
        return this.log(`partition ${action.source}-${DESTINATION}`);
      case 'heal':
        this.network.heal(action.source, DESTINATION);
        return this.log(`heal ${action.source}-${DESTINATION}`);
      case 'crash':
        return this.crash(action.node, action.afterWrites, action.torn ?? false);
      case 'restart':
        return this.restart(action.node);
      case 'fail-disk': {
        this.disk(action.node, action.group, action.index).fail();
        this.diskFaults.failedDisk(action.node);
        const failed = this.media[action.node]!.groups[action.group]!.filter((d) => d.isFailed).length;
        const lastWrite = this.writes.at(-1)?.writeId ?? 0;
        // Read off the disks, not taken from the action: the group is past what its RAID level survives.
        const source = this.spec.sources.find((s) => s.id === action.node);
        const lost =
          source !== undefined &&
          action.group === 'primary' &&
          failed > toleranceOfLevel(source.primary.level);
        if (lost && !this.lostVolumes.has(action.node)) this.lostVolumes.set(action.node, lastWrite);
        const mirrored =
          action.node === DESTINATION && action.group.startsWith('mirror:')
            ? this.spec.sources.find((s) => `mirror:${s.id}` === action.group)
            : undefined;
        const mirrorLost = mirrored !== undefined && failed > toleranceOfLevel(mirrored.mirror.level);
        if (mirrorLost && !this.lostMirrors.has(mirrored.id)) this.lostMirrors.set(mirrored.id, lastWrite);
        const past = lost
          ? ': the primary is past its tolerance (D4)'
          : mirrorLost
            ? `: the mirror of ${mirrored.id} is past its tolerance (D5)`
            : '';
        return this.log(`fail-disk ${action.node} ${action.group}[${action.index}]${past}`);
      }
      case 'latent-error':
        // Told first: it reads off the disk whether the target had written the block.
        this.diskFaults.plantedLatentError(action.node, action.group, action.index, action.dbn);
        this.disk(action.node, action.group, action.index).plantLatentError(action.dbn);
        return this.log(`latent-error ${action.node} ${action.group}[${action.index}] dbn=${action.dbn}`);
      case 'replace-disk':
        return this.replaceDisk(action);
      case 'scrub':
        this.log(`scrub ${action.node}`);
        if (!this.isUp(action.node)) return;
        {
          const before = this.diskFaults.latentErrors(action.node).length;
          this.guard('scrub', action.node, () => this.instance.scrub?.(action.node));
          if (this.isUp(action.node)) this.diskFaults.scrubbed(action.node, before);
        }
        return this.routeEffects();
      case 'message-fault':
        this.network.aim(action.from, action.to, action.fault);
        return this.log(describeMessageFault(action.from, action.to, action.fault));
      case 'slow':
        this.network.slow(action.source, DESTINATION, action.ticks);
        return this.log(`slow ${action.source}-${DESTINATION} to ${action.ticks} ticks a message`);
      case 'speed-up':
        this.network.speedUp(action.source, DESTINATION);
        return this.log(`speed-up ${action.source}-${DESTINATION}`);
      case 'pause':
        this.pausedUntil.set(action.node, this.nowTick + action.ticks + 1);
        this.pauseEventTick.set(action.node, this.nowTick);
        return this.log(`pause ${action.node} for ${action.ticks} ticks`);
      case 'drift':
        if (action.skipEvery === 0) this.skipEvery.delete(action.node);
        else this.skipEvery.set(action.node, action.skipEvery);
        return this.log(
          action.skipEvery === 0
            ? `drift ${action.node}: on time`
            : `drift ${action.node}: misses every ${action.skipEvery}th tick`,
        );
      case 'failover':
        this.log(`failover ${action.source}`);
        this.guard('failover', DESTINATION, () => this.instance.failover(action.source));
        return this.routeEffects();
      case 'out-of-range':
        return this.outOfRangeRequest(action.source, action.op, action.lba);
    }
  }

  /** Rule R2: the request goes to the serving node like any other; what it answers is only recorded. */
  private outOfRangeRequest(source: NodeId, op: 'read' | 'write', lba: number): void {
    const server = this.servingNode(source);
    const writeId = op === 'write' ? OUT_OF_RANGE_WRITE_IDS + this.outOfRange.length + 1 : undefined;
    const record: OutOfRangeRecord = {
      source,
      op,
      lba,
      issuedTick: this.nowTick,
      issuedLocalTick: this.localTick(server),
      servedBy: server,
      ...(writeId !== undefined ? { writeId } : {}),
    };
    this.outOfRange.push(record);
    const id = writeId !== undefined ? ` id=${writeId}` : '';
    this.log(`${op} ${source} lba=${lba} (outside the volume)${id}`);
    if (!this.isUp(server)) {
      record.outcome = { ok: false, error: `${server} is down`, tick: this.nowTick, byWorld: true };
      return this.log(`  error: ${server} is down`);
    }
    if (writeId === undefined) {
      const r = this.guard('clientRead', server, () => this.instance.clientRead(source, lba));
      record.outcome =
        r === undefined
          ? { ok: false, error: `${server} lost power during the read`, tick: this.nowTick, byWorld: true }
          : r.ok
            ? { ok: true, tick: this.nowTick }
            : { ok: false, error: r.error, tick: this.nowTick };
      this.log(`  -> ${record.outcome.ok ? 'data' : `error: ${record.outcome.error}`}`);
    } else {
      this.outOfRangeById.set(writeId, record);
      const data = writeData(writeId, lba, this.spec.blockBytes);
      this.guard('clientWrite', server, () => this.instance.clientWrite(source, { writeId, lba, data }));
    }
    this.routeEffects();
  }

  private clientWrite(source: NodeId, lba: number, pattern?: DataPattern): void {
    const writeId = this.writes.length + 1;
    const writer = this.servingNode(source);
    const record: WriteRecord = {
      writeId,
      source,
      lba,
      issuedTick: this.nowTick,
      issuedLocalTick: this.localTick(writer),
      sendsAtIssue: this.network.lastSendId,
    };
    this.writes.push(record);
    this.writeById.set(writeId, record);
    const data = this.contents.make(writeId, source, lba, pattern);
    this.log(`write ${source} lba=${lba} id=${writeId}${describeContents(this.contents, writeId)}`);
    record.servedBy = writer;
    if (!this.isUp(writer)) {
      record.outcome = { ok: false, error: `${writer} is down`, tick: this.nowTick, byWorld: true };
      this.answered(record);
      return this.log(`  ack id=${writeId} error: ${writer} is down`);
    }
    this.guard('clientWrite', writer, () => this.instance.clientWrite(source, { writeId, lba, data }));
    this.routeEffects();
  }

  private clientRead(source: NodeId, lba: number): void {
    const reader = this.servingNode(source);
    const answered = this.isUp(reader)
      ? this.guard('clientRead', reader, () => this.instance.clientRead(source, lba))
      : undefined;
    const result: ReadResult = answered ?? {
      ok: false,
      error: this.isUp(reader) ? `${reader} lost power during the read` : `${reader} is down`,
    };
    this.reads.push({ source, lba, tick: this.nowTick, result, byWorld: answered === undefined });
    this.log(
      `read ${source} lba=${lba} -> ${result.ok ? `sum=${hex(checksum(result.data))}` : `error: ${result.error}`}`,
    );
    this.routeEffects();
  }

  /** After a failover the destination serves the source's volume. */
  private servingNode(source: NodeId): NodeId {
    const obs = this.isUp(DESTINATION) ? this.observe().sources[source] : undefined;
    return obs?.relationship === 'failed-over' ? DESTINATION : source;
  }

  private tickOnce(): void {
    this.nowTick++;
    for (const [node, until] of this.pausedUntil)
      if (this.nowTick >= until) {
        this.pausedUntil.delete(node);
        this.pauseEventTick.set(node, this.nowTick);
        this.log(`resume ${node}`);
      }
    // What waited for a node that has resumed goes first, in the order it arrived.
    const waiting = this.held.filter((d) => !this.isPaused(d.to));
    this.held = this.held.filter((d) => this.isPaused(d.to));
    for (const d of [...waiting, ...this.network.tick()]) {
      const { id, from, to, duplicate } = d;
      if (this.isUp(d.to) && this.isPaused(d.to)) {
        this.held.push(d);
        continue;
      }
      if (!this.isUp(d.to)) {
        if (this.keepTrace)
          this.events.push({ kind: 'drop', tick: this.nowTick, id, from, to, duplicate, reason: 'down' });
        this.log(`drop ${d.from}->${d.to} (down) ${this.describe(d.bytes, d.from)}`);
        continue;
      }
      // Described once, only for the trace, by the target itself; the target still gets the raw bytes.
      const described = this.keepTrace ? this.description(d.bytes, d.from) : null;
      if (this.keepTrace) {
        const undecodable = described === null;
        this.events.push({ kind: 'deliver', tick: this.nowTick, id, from, to, duplicate, undecodable });
      }
      if (this.keepDeliveries) {
        const bytes = d.bytes;
        this.deliveries.push({ tick: this.nowTick, from: d.from, to: d.to, duplicate: d.duplicate, bytes });
      }
      this.log(
        `deliver ${d.from}->${d.to}${d.duplicate ? ' (dup)' : ''} ${this.describe(d.bytes, d.from, described)}`,
      );
      this.causality.delivered(d.from, d.to, d.id);
      this.guard('receive', d.to, () => this.instance.receive(d.to, d.from, d.bytes));
      this.routeEffects();
    }
    for (const node of this.nodes) {
      const clock = this.localClock.get(node)!;
      const given = clock[clock.length - 1]!;
      const skip = this.skipEvery.get(node) ?? 0;
      const runs = this.isUp(node) && !this.isPaused(node) && !(skip > 0 && this.nowTick % skip === 0);
      clock.push(runs ? given + 1 : given);
      if (!runs) continue;
      this.guard('tick', node, () => this.instance.tick(node));
      this.routeEffects();
    }
  }

  private crash(node: NodeId, afterWrites: number | undefined, torn: boolean): void {
    if (!this.isUp(node)) return this.log(`crash ${node}: already down`);
    const power = this.media[node]!.power;
    if (afterWrites !== undefined) {
      power.armCut(afterWrites, torn);
      return this.log(`arm power cut ${node} after ${afterWrites} media writes${torn ? ', torn' : ''}`);
    }
    power.cut();
    this.powerLost(node);
  }

  private restart(node: NodeId): void {
    if (this.isUp(node)) return this.log(`restart ${node}: already up`);
    this.media[node]!.power.restore();
    this.up.set(node, true);
    this.powerEventTick.set(node, this.nowTick);
    this.log(`restart ${node}`);
    this.guard('restart', node, () => this.instance.restart(node));
    // A rebuild a power cut interrupted is finished by the restart (harness/target.ts, rule D2).
    if (this.isUp(node)) this.diskFaults.rebuilt(node);
    this.routeEffects();
  }

  private replaceDisk(action: Extract<WorldAction, { kind: 'replace-disk' }>): void {
    const { node, group, index } = action;
    const disks = this.media[node]!.groups[group];
    const old = disks?.[index];
    if (!disks || !old) throw new RangeError(`no disk ${node} ${group}[${index}]`);
    const spare = new Disk({
      id: `${old.id}~spare${++this.spareCount}`,
      blockCount: old.blockCount,
      blockBytes: old.blockBytes,
      power: this.media[node]!.power,
    });
    disks[index] = spare;
    this.log(`replace-disk ${node} ${group}[${index}] with ${spare.id}`);
    if (!this.isUp(node)) return; // The server finds the blank disk when it restarts.
    this.diskFaults.rebuildStarted(node, group, index, spare);
    const power = this.media[node]!.power;
    if (action.cutAfterWrites !== undefined) {
      power.armCut(action.cutAfterWrites, action.torn ?? false);
      this.log(`arm power cut ${node} after ${action.cutAfterWrites} media writes of the rebuild`);
    }
    this.guard('replaceDisk', node, () => this.instance.replaceDisk(node, group, index, spare));
    // The cut falls inside the rebuild or not at all.
    if (action.cutAfterWrites !== undefined && power.isArmed) power.disarm();
    if (this.isUp(node)) this.diskFaults.rebuilt(node);
    this.routeEffects();
  }

  private disk(node: NodeId, group: string, index: number): Disk {
    const disk = this.media[node]?.groups[group]?.[index];
    if (!disk) throw new RangeError(`no disk ${node} ${group}[${index}]`);
    return disk;
  }

  /** Runs a target call; a PowerLoss crashes the node whose power went, anything else is a TargetError. */
  private guard<T>(call: string, node: NodeId, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TargetError) throw this.withDetail(e);
      if (!(e instanceof PowerLoss)) throw new TargetError(this.target.name, `${call}(${node})`, e);
      // Effects the target produced before the cut were on the wire or told to the client already.
      this.routeEffects();
      for (const n of this.nodes) if (this.isUp(n) && !this.media[n]!.power.isOn) this.powerLost(n);
      return undefined;
    }
  }

  private guardObserve<T>(call: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TargetError) throw this.withDetail(e);
      throw new TargetError(this.target.name, call, e);
    }
  }

  /** A TargetError passes as it is; lines it carries (a process node's stderr) go into the trace. */
  private withDetail(e: TargetError): TargetError {
    const tail = (e as { stderrTail?: unknown }).stderrTail;
    if (Array.isArray(tail) && tail.length > 0) {
      this.log(`${e.message}; the tail of its stderr:`);
      for (const line of tail) this.log(`  stderr| ${String(line)}`);
    }
    return e;
  }

  private powerLost(node: NodeId): void {
    this.up.set(node, false);
    // A crash ends a pause: what waited for the node is lost with it.
    if (this.pausedUntil.delete(node)) this.pauseEventTick.set(node, this.nowTick);
    this.held = this.held.filter((d) => d.to !== node);
    this.powerEventTick.set(node, this.nowTick);
    if (this.keepTrace)
      this.events.push({
        kind: 'power-lost',
        tick: this.nowTick,
        node,
        mediaWrites: this.media[node]!.power.writes,
      });
    // Clients waiting on this server see their connection drop: the outcome is indeterminate.
    for (const w of this.writes) {
      if (w.outcome || w.servedBy !== node) continue;
      w.outcome = {
        ok: false,
        error: `${node} lost power before answering (indeterminate)`,
        tick: this.nowTick,
        byWorld: true,
      };
      this.answered(w);
    }
    const now = this.nowTick;
    for (const r of this.outOfRange)
      if (!r.outcome && r.servedBy === node)
        r.outcome = { ok: false, error: `${node} lost power before answering`, tick: now, byWorld: true };
    const dropped = this.network.dropInFlight(node);
    this.log(
      `power lost ${node} (media writes ${this.media[node]!.power.writes}, dropped ${dropped} in flight)`,
    );
    this.guardObserve('crash', () => this.instance.crash(node));
  }

  private routeEffects(): void {
    const effects: unknown = this.guardObserve('drainEffects', () => this.instance.drainEffects());
    if (!Array.isArray(effects))
      throw new MalformedOutput(
        this.target.name,
        'drainEffects',
        'it returned something other than an array',
      );
    for (const effect of effects as Effect[]) {
      const problem = effectProblem(effect, this.nodes);
      if (problem !== null) throw new MalformedOutput(this.target.name, 'drainEffects', problem);
      if (effect.kind === 'send') {
        this.bytesSent.set(effect.from, (this.bytesSent.get(effect.from) ?? 0) + effect.bytes.length);
        this.messagesSent.set(effect.from, (this.messagesSent.get(effect.from) ?? 0) + 1);
        // Recorded before the network sees it, which may drop it at once: send numbers run from 1 in order.
        if (this.keepTrace)
          this.recordSend(this.network.lastSendId + 1, effect.from, effect.to, effect.bytes);
        this.causality.sent(effect.from, effect.to, this.network.send(effect.from, effect.to, effect.bytes));
        continue;
      }
      const refused = this.outOfRangeById.get(effect.writeId);
      if (refused) {
        if (refused.outcome)
          throw new TargetError(this.target.name, 'ack', new Error(`write ${effect.writeId} answered twice`));
        refused.outcome = effect.ok
          ? { ok: true, tick: this.nowTick }
          : { ok: false, error: effect.error ?? 'failed', tick: this.nowTick };
        this.log(`  ack id=${effect.writeId} ${effect.ok ? 'ok' : `error: ${effect.error ?? 'failed'}`}`);
        continue;
      }
      const record = this.writeById.get(effect.writeId);
      if (!record)
        throw new TargetError(this.target.name, 'ack', new Error(`unknown write id ${effect.writeId}`));
      if (record.outcome)
        throw new TargetError(this.target.name, 'ack', new Error(`write ${effect.writeId} answered twice`));
      record.outcome = effect.ok
        ? { ok: true, tick: this.nowTick }
        : { ok: false, error: effect.error ?? 'failed', tick: this.nowTick };
      this.answered(record);
      this.log(`  ack id=${effect.writeId} ${effect.ok ? 'ok' : `error: ${effect.error ?? 'failed'}`}`);
    }
  }

  /** The write's client has its answer (its outcome is set). */
  private answered(record: WriteRecord): void {
    this.answers.push(record.writeId);
    const o = record.outcome!;
    if (this.keepTrace)
      this.events.push({
        kind: 'answer',
        tick: o.tick,
        writeId: record.writeId,
        ok: o.ok,
        ...(o.error !== undefined ? { error: o.error } : {}),
        byWorld: o.byWorld === true,
      });
  }

  private recordSend(id: number, from: NodeId, to: NodeId, bytes: Uint8Array): void {
    const described = this.description(bytes, from);
    this.events.push({
      kind: 'send',
      tick: this.nowTick,
      id,
      from,
      to,
      type: described?.kind ?? null,
      resync: described?.resync === true,
      message: this.describe(bytes, from, described),
    });
  }

  /** The target's own words for a message (TargetInstance.describeMessage), or null. */
  private description(bytes: Uint8Array, from: NodeId): MessageDescription | null {
    const describe = this.instance.describeMessage;
    if (!describe) return null;
    return this.guardObserve('describeMessage', () => describe.call(this.instance, bytes, from)) ?? null;
  }

  private describe(bytes: Uint8Array, from: NodeId, described?: MessageDescription | null): string {
    if (!this.keepTrace) return '';
    const d = described === undefined ? this.description(bytes, from) : described;
    return d ? d.text : `${bytes.length} bytes sum=${hex(checksum(bytes))}`;
  }

  private log(line: string): void {
    if (this.keepTrace) this.trace.push(`${this.nowTick} ${line}`);
  }
}

/** Blank media for every node of `spec`, laid out as every world hands them to its target. */
export function makeMedia(spec: WorldSpec): Record<NodeId, NodeMedia> {
  const media: Record<NodeId, NodeMedia> = {};
  const dstPower = new Power();
  const dstGroups: Record<string, Disk[]> = {};
  for (const s of spec.sources) {
    const power = new Power();
    media[s.id] = {
      power,
      nvram: new Nvram(s.nvramBytes, power),
      groups: { primary: makeDisks(`${s.id}.primary`, s.primary, power) },
    };
    dstGroups[`mirror:${s.id}`] = makeDisks(`${DESTINATION}.mirror-${s.id}`, s.mirror, dstPower);
    dstGroups[`log:${s.id}`] = makeDisks(`${DESTINATION}.log-${s.id}`, s.logFile, dstPower);
  }
  media[DESTINATION] = { power: dstPower, groups: dstGroups };
  return media;
}

function makeDisks(prefix: string, g: RaidGeometry, power: Power): Disk[] {
  return Array.from(
    { length: disksFor(g) },
    (_, i) =>
      new Disk({ id: `${prefix}.d${i}`, blockCount: g.blocksPerDisk, blockBytes: g.blockBytes, power }),
  );
}

function hex(x: number): string {
  return x.toString(16).padStart(8, '0');
}

/** One line for an aimed message fault, as the trace and a counterexample show it. */
export function describeMessageFault(from: NodeId, to: NodeId, f: MessageFault): string {
  const what =
    f.kind === 'delay' || f.kind === 'stale'
      ? `${f.kind} ${f.ticks} ticks`
      : f.kind === 'corrupt'
        ? `corrupt byte ${f.byte}`
        : f.kind === 'truncate'
          ? `truncate to ${f.bytes} bytes`
          : f.kind;
  return `${what}: the next message ${from}->${to}`;
}

/** The LBAs a burst writes, in order. */
export function burstLbas(
  b: { readonly from: number; readonly count: number; readonly stride: number; readonly span?: number },
  lbaCount: number,
): number[] {
  const span = b.span ?? Number.POSITIVE_INFINITY;
  return Array.from({ length: b.count }, (_, i) => (b.from + ((i * b.stride) % span)) % lbaCount);
}

/** What the trace adds to a write whose data is not its own fresh block. */
function describeContents(contents: WriteContents, writeId: number): string {
  const cls = contents.classOfWrite(writeId);
  if (cls === writeId)
    return contents.sharingOf(writeId) === 'near' ? ' (one byte off an earlier write)' : '';
  return cls === 0 ? ' (zeros)' : ` (the data of write ${cls})`;
}

/** How many client writes an action issues. */
export function writesIssuedBy(a: WorldAction): number {
  return a.kind === 'write' ? 1 : a.kind === 'burst' ? a.count : 0;
}
