// The simulated network: links between named nodes carrying opaque byte messages, in ticks.
// Fault model, per link: delivery delay in [min, max] ticks, partitions (drop in flight and while cut),
// and optional loss, duplication and reordering; in-order per connection (from → to) otherwise.

import { assert, ConfigError } from './media/errors.ts';
import type { Prng } from './prng.ts';
import type { NodeId } from './target.ts';

/** The faults of one link, both directions. Integers only: percents are drawn with prng.chance(n, 100). */
export interface LinkFaults {
  /**
   * Ticks from send to delivery, drawn uniformly in [min, max]. At least 1: tick() advances time
   * before it delivers, so a message is never received in the tick it was sent.
   */
  readonly deliveryDelayTicksMin: number;
  readonly deliveryDelayTicksMax: number;
  /** Chance that a message vanishes on the way (it is neither delivered nor reported to anyone). */
  readonly lossPercent: number;
  /** Chance that a message is delivered twice; the copy has its own delay, never before the original. */
  readonly duplicatePercent: number;
  /**
   * Chance that a message is released from in-order delivery: it takes its own delay and may overtake
   * messages sent before it on the same connection. At 0 a connection is strictly FIFO.
   */
  readonly reorderPercent: number;
}

/**
 * A fault aimed at one message: the next one sent on a connection (from -> to) once it is aimed there
 * (`SimNetwork.aim`). A schedule names it as an action, so a shrunk counterexample keeps "lose exactly
 * this confirm" where a per-link rate could not. Every one counts as a link fault (rule L1).
 * - lose: never delivered. duplicate: delivered twice.
 * - delay: delivered `ticks` later than the link would have, out of order.
 * - stale: delivered as usual, and a copy again `ticks` later (a message from an earlier CP).
 * - corrupt: one byte flipped (at `byte` modulo the length). truncate: only the first `bytes` bytes
 *   arrive (fewer than were sent). A target must reject both (harness/target.ts).
 */
export type MessageFault =
  | { readonly kind: 'lose' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'delay'; readonly ticks: number }
  | { readonly kind: 'stale'; readonly ticks: number }
  | { readonly kind: 'corrupt'; readonly byte: number }
  | { readonly kind: 'truncate'; readonly bytes: number };

/** A link that only delays, by exactly one tick. */
export const PERFECT_LINK: LinkFaults = {
  deliveryDelayTicksMin: 1,
  deliveryDelayTicksMax: 1,
  lossPercent: 0,
  duplicatePercent: 0,
  reorderPercent: 0,
};

export interface SimNetworkOptions {
  /** Every node that may send or receive, e.g. ['src0', 'src1', 'dst']. */
  readonly nodes: readonly NodeId[];
  /** Faults of every link not configured otherwise; PERFECT_LINK when absent. */
  readonly defaults?: LinkFaults;
  /** Told of each message the network drops, as it drops it (the world keeps them with its trace). */
  readonly onDrop?: (m: DroppedMessage) => void;
}

/** A message that will never be delivered: cut by a partition, lost, or dropped by a crash of its receiver. */
export interface DroppedMessage {
  readonly id: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly duplicate: boolean;
  readonly reason: 'partition' | 'loss' | 'crash';
}

export interface Delivery {
  /** The send's number (from 1, across the network); a duplicate carries its original's. */
  readonly id: number;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The receiver's own copy. */
  readonly bytes: Uint8Array;
  readonly sentTick: number;
  readonly deliveredTick: number;
  /** True for the extra copy the duplication fault made. */
  readonly duplicate: boolean;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  /** Dropped because the link was partitioned when they were sent or while they were in flight. */
  droppedByPartition: number;
  /** Dropped by dropInFlight(node), the world's choice when `node` crashes. */
  droppedByCrash: number;
  lost: number;
  duplicated: number;
  /** Messages the reorder fault released from in-order delivery. */
  reordered: number;
}

interface InFlight {
  readonly id: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly bytes: Uint8Array;
  readonly sentTick: number;
  readonly deliverTick: number;
  readonly duplicate: boolean;
  /** 0 for a reordered message, which goes before in-order ones due the same tick; 1 otherwise. */
  readonly rank: 0 | 1;
  /** Held back by an aimed delay, a stale copy or a slow link: its arrival is a link fault too (rule L1). */
  readonly late: boolean;
}

/**
 * The network knows nothing of crashes. A message in flight to a crashed node is still delivered by
 * tick(): the world, which knows the node is down, delivers it to nothing (or calls dropInFlight when
 * the node crashes). Messages a node sent before it crashed are on the wire and still arrive, as on a
 * real network.
 */
export class SimNetwork {
  private readonly prng: Prng;
  private readonly nodes: ReadonlySet<NodeId>;
  private readonly defaults: LinkFaults;
  private readonly onDrop: ((m: DroppedMessage) => void) | undefined;
  private readonly linkFaults = new Map<string, LinkFaults>();
  private readonly partitioned = new Set<string>();
  /** Per connection (`from>to`), faults aimed at its next messages, first aimed first applied. */
  private readonly aimed = new Map<string, MessageFault[]>();
  /** Links slowed to a fixed delay (`slow`), with the faults they had before. */
  private readonly slowed = new Map<string, LinkFaults>();
  /** Messages by the tick they are due; a tick's bucket is taken whole when that tick comes. */
  private readonly due = new Map<number, InFlight[]>();
  /** Per connection, the latest tick anything on it is due: an in-order message is never due earlier. */
  private readonly lastDueTick = new Map<string, number>();
  private inFlightCount = 0;
  /** Per link, the last tick a message on it was lost, dropped, duplicated or reordered, or it was cut or healed. */
  private readonly faultTicks = new Map<string, number>();
  private sends = 0;
  private nowTick = 0;
  private readonly counters: NetworkStats = {
    sent: 0,
    delivered: 0,
    droppedByPartition: 0,
    droppedByCrash: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
  };

  /** `prng` is the child the world drew for the network; the network draws from nothing else. */
  constructor(prng: Prng, options: SimNetworkOptions) {
    if (new Set(options.nodes).size !== options.nodes.length)
      throw new ConfigError(`network nodes must be distinct: ${options.nodes.join(', ')}`);
    this.prng = prng;
    this.nodes = new Set(options.nodes);
    this.defaults = checkFaults(options.defaults ?? PERFECT_LINK, 'defaults');
    this.onDrop = options.onDrop;
  }

  get now(): number {
    return this.nowTick;
  }

  /** The number of the last message sent (0 before any). */
  get lastSendId(): number {
    return this.sends;
  }

  /** A snapshot of the counters. */
  get stats(): NetworkStats {
    return { ...this.counters };
  }

  /** Sets the faults of the link between `a` and `b` (both directions), e.g. to heal it for liveness. */
  configureLink(a: NodeId, b: NodeId, faults: LinkFaults): void {
    this.checkPair(a, b);
    this.linkFaults.set(linkKey(a, b), checkFaults(faults, `link ${a}-${b}`));
  }

  faultsOf(a: NodeId, b: NodeId): LinkFaults {
    this.checkPair(a, b);
    return this.linkFaults.get(linkKey(a, b)) ?? this.defaults;
  }

  /** Puts a message on the wire; returns its send number (a lost or dropped one has one too). */
  send(from: NodeId, to: NodeId, bytes: Uint8Array): number {
    this.checkPair(from, to);
    this.counters.sent++;
    const id = ++this.sends;
    if (this.partitioned.has(linkKey(from, to))) {
      this.counters.droppedByPartition++;
      this.noteFault(from, to);
      this.onDrop?.({ id, from, to, duplicate: false, reason: 'partition' });
      return id;
    }
    const faults = this.faultsOf(from, to);
    const aimed = this.aimed.get(`${from}>${to}`)?.shift();
    if (aimed !== undefined) {
      this.noteFault(from, to);
      return this.sendWithFault(id, from, to, bytes, faults, aimed);
    }
    if (this.draw(faults.lossPercent)) {
      this.counters.lost++;
      this.noteFault(from, to);
      this.onDrop?.({ id, from, to, duplicate: false, reason: 'loss' });
      return id;
    }
    const reorder = this.draw(faults.reorderPercent);
    if (reorder) {
      this.counters.reordered++;
      this.noteFault(from, to);
    }
    this.schedule(id, from, to, bytes, faults, reorder, false);
    if (this.draw(faults.duplicatePercent)) {
      this.counters.duplicated++;
      this.noteFault(from, to);
      // The copy is in-order even when its original was reordered: it never arrives before it.
      this.schedule(id, from, to, bytes, faults, false, true);
    }
    return id;
  }

  /** Aims `fault` at the next message sent from `from` to `to` not yet aimed at. */
  aim(from: NodeId, to: NodeId, fault: MessageFault): void {
    this.checkPair(from, to);
    const key = `${from}>${to}`;
    const list = this.aimed.get(key);
    if (list === undefined) this.aimed.set(key, [fault]);
    else list.push(fault);
  }

  /** Faults aimed on `from` -> `to` that no message has taken yet. */
  aimedAt(from: NodeId, to: NodeId): number {
    return this.aimed.get(`${from}>${to}`)?.length ?? 0;
  }

  private sendWithFault(
    id: number,
    from: NodeId,
    to: NodeId,
    bytes: Uint8Array,
    faults: LinkFaults,
    fault: MessageFault,
  ): number {
    switch (fault.kind) {
      case 'lose':
        this.counters.lost++;
        this.onDrop?.({ id, from, to, duplicate: false, reason: 'loss' });
        return id;
      case 'duplicate':
        this.counters.duplicated++;
        this.schedule(id, from, to, bytes, faults, false, false);
        this.schedule(id, from, to, bytes, faults, false, true);
        return id;
      case 'delay':
        this.counters.reordered++;
        this.schedule(id, from, to, bytes, faults, true, false, fault.ticks);
        return id;
      case 'stale':
        this.counters.duplicated++;
        this.schedule(id, from, to, bytes, faults, false, false);
        this.schedule(id, from, to, bytes, faults, true, true, fault.ticks);
        return id;
      case 'corrupt': {
        const damaged = bytes.slice();
        if (damaged.length > 0) damaged[fault.byte % damaged.length]! ^= 0x5a;
        this.schedule(id, from, to, damaged, faults, false, false);
        return id;
      }
      case 'truncate':
        this.schedule(
          id,
          from,
          to,
          bytes.subarray(0, Math.min(fault.bytes, bytes.length - 1)),
          faults,
          false,
          false,
        );
        return id;
    }
  }

  /**
   * Slows the link between `a` and `b` to a fixed delay of `ticks` each way (longer than the ack
   * timeout: the source times out with the link up) until `speedUp`. A fault while it lasts (rule L1).
   */
  slow(a: NodeId, b: NodeId, ticks: number): void {
    this.checkPair(a, b);
    const key = linkKey(a, b);
    if (!this.slowed.has(key)) this.slowed.set(key, this.faultsOf(a, b));
    const was = this.slowed.get(key)!;
    this.linkFaults.set(
      key,
      checkFaults({ ...was, deliveryDelayTicksMin: ticks, deliveryDelayTicksMax: ticks }, `link ${a}-${b}`),
    );
    this.noteFault(a, b);
  }

  isSlow(a: NodeId, b: NodeId): boolean {
    this.checkPair(a, b);
    return this.slowed.has(linkKey(a, b));
  }

  /**
   * The last tick the link between `a` and `b` had a fault: a message lost, dropped (partition or a
   * crash), duplicated or reordered, or the link cut or healed; -Infinity if never. Rule L1 reads it.
   */
  lastFaultTick(a: NodeId, b: NodeId): number {
    // A slow link is a fault for as long as it lasts, like a partition (which drops every send).
    if (this.slowed.has(linkKey(a, b))) return this.nowTick;
    return this.faultTicks.get(linkKey(a, b)) ?? Number.NEGATIVE_INFINITY;
  }

  private noteFault(a: NodeId, b: NodeId): void {
    this.faultTicks.set(linkKey(a, b), this.nowTick);
  }

  /** Advances one tick and returns the messages due now: by rank, then send number, then original first. */
  tick(): Delivery[] {
    this.nowTick++;
    const bucket = this.due.get(this.nowTick) ?? [];
    this.due.delete(this.nowTick);
    bucket.sort((x, y) => x.rank - y.rank || x.id - y.id || Number(x.duplicate) - Number(y.duplicate));
    this.inFlightCount -= bucket.length;
    this.counters.delivered += bucket.length;
    this.checkConservation();
    for (const m of bucket) if (m.late) this.noteFault(m.from, m.to);
    return bucket.map((m) => ({
      id: m.id,
      from: m.from,
      to: m.to,
      bytes: m.bytes,
      sentTick: m.sentTick,
      deliveredTick: this.nowTick,
      duplicate: m.duplicate,
    }));
  }

  /** Cuts the link between `a` and `b`: drops what is in flight on it either way, and all sent until heal. */
  partition(a: NodeId, b: NodeId): void {
    this.checkPair(a, b);
    this.partitioned.add(linkKey(a, b));
    this.noteFault(a, b);
    this.removeInFlight((m) => linkKey(m.from, m.to) === linkKey(a, b), 'droppedByPartition');
  }

  heal(a: NodeId, b: NodeId): void {
    this.checkPair(a, b);
    this.partitioned.delete(linkKey(a, b));
    this.noteFault(a, b);
  }

  /** Heals every partitioned or slow link. */
  healAll(): void {
    this.partitioned.clear();
    for (const key of [...this.slowed.keys()]) this.unslow(key);
  }

  /** Forgets every aimed fault no message took: the start of a liveness phase. */
  clearAimed(): void {
    this.aimed.clear();
  }

  /** Ends `slow` on the link between `a` and `b`: it has the faults it had before again. */
  speedUp(a: NodeId, b: NodeId): void {
    this.checkPair(a, b);
    this.unslow(linkKey(a, b));
    this.noteFault(a, b);
  }

  private unslow(key: string): void {
    const was = this.slowed.get(key);
    if (was === undefined) return;
    this.slowed.delete(key);
    this.linkFaults.set(key, was);
  }

  isPartitioned(a: NodeId, b: NodeId): boolean {
    this.checkPair(a, b);
    return this.partitioned.has(linkKey(a, b));
  }

  /** Messages in flight, optionally only those from `from` and/or to `to`. */
  inFlight(from?: NodeId, to?: NodeId): number {
    if (from === undefined && to === undefined) return this.inFlightCount;
    let count = 0;
    for (const bucket of this.due.values())
      for (const m of bucket)
        if ((from === undefined || m.from === from) && (to === undefined || m.to === to)) count++;
    return count;
  }

  /** Drops every message in flight to `node` (the world calls it when `node` crashes); returns how many. */
  dropInFlight(node: NodeId): number {
    assert(this.nodes.has(node), 'network: known node');
    return this.removeInFlight((m) => m.to === node, 'droppedByCrash');
  }

  private schedule(
    id: number,
    from: NodeId,
    to: NodeId,
    bytes: Uint8Array,
    faults: LinkFaults,
    reorder: boolean,
    duplicate: boolean,
    /** Ticks added to the drawn delay (an aimed delay or stale copy). */
    extraTicks = 0,
  ): void {
    const connection = `${from}>${to}`;
    const delayTicks =
      extraTicks +
      (faults.deliveryDelayTicksMin === faults.deliveryDelayTicksMax
        ? faults.deliveryDelayTicksMin
        : this.prng.between(faults.deliveryDelayTicksMin, faults.deliveryDelayTicksMax));
    const last = this.lastDueTick.get(connection) ?? 0;
    // In order: never due before what was sent earlier on the connection. Everything earlier was sent
    // no sooner and is due by its own send tick + max, so waiting for it keeps the delay within max.
    const deliverTick = reorder ? this.nowTick + delayTicks : Math.max(this.nowTick + delayTicks, last);
    assert(deliverTick > this.nowTick, 'network: delivery is in the future');
    // A message held back on purpose does not hold back what follows it: it arrives out of order.
    if (extraTicks === 0) this.lastDueTick.set(connection, Math.max(last, deliverTick));
    const m: InFlight = {
      id,
      from,
      to,
      // Copies: the sender may reuse its buffer, and a receiver may mutate what it was handed.
      bytes: bytes.slice(),
      sentTick: this.nowTick,
      deliverTick,
      duplicate,
      rank: reorder ? 0 : 1,
      late: extraTicks > 0 || this.slowed.has(linkKey(from, to)),
    };
    const bucket = this.due.get(deliverTick);
    if (bucket === undefined) this.due.set(deliverTick, [m]);
    else bucket.push(m);
    this.inFlightCount++;
  }

  private removeInFlight(
    drop: (m: InFlight) => boolean,
    counter: 'droppedByPartition' | 'droppedByCrash',
  ): number {
    let dropped = 0;
    for (const [tick, bucket] of this.due) {
      const kept = bucket.filter((m) => {
        if (!drop(m)) return true;
        this.noteFault(m.from, m.to);
        const reason = counter === 'droppedByCrash' ? 'crash' : 'partition';
        this.onDrop?.({ id: m.id, from: m.from, to: m.to, duplicate: m.duplicate, reason });
        return false;
      });
      dropped += bucket.length - kept.length;
      if (kept.length === 0) this.due.delete(tick);
      else this.due.set(tick, kept);
    }
    this.inFlightCount -= dropped;
    this.counters[counter] += dropped;
    this.checkConservation();
    return dropped;
  }

  /** A fault with a zero percent draws nothing, so a fault-free link leaves the PRNG stream alone. */
  private draw(percent: number): boolean {
    return percent > 0 && this.prng.chance(percent, 100);
  }

  /** Every message sent (or duplicated) is delivered, dropped, lost, or still in flight. */
  private checkConservation(): void {
    const c = this.counters;
    assert(this.inFlightCount >= 0, 'network: in-flight count is not negative');
    assert(
      c.sent + c.duplicated ===
        c.delivered + c.droppedByPartition + c.droppedByCrash + c.lost + this.inFlightCount,
      'network: every message is accounted for',
    );
  }

  private checkPair(a: NodeId, b: NodeId): void {
    assert(this.nodes.has(a) && this.nodes.has(b), 'network: known nodes');
    assert(a !== b, 'network: a link joins two different nodes');
  }
}

/** Links are undirected: one key for a-b and b-a. */
function linkKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function checkFaults(f: LinkFaults, where: string): LinkFaults {
  const min = f.deliveryDelayTicksMin;
  const max = f.deliveryDelayTicksMax;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max < min)
    throw new ConfigError(`${where}: delivery delay needs integers 1 <= min <= max, got [${min}, ${max}]`);
  for (const [name, p] of [
    ['lossPercent', f.lossPercent],
    ['duplicatePercent', f.duplicatePercent],
    ['reorderPercent', f.reorderPercent],
  ] as const) {
    if (!Number.isInteger(p) || p < 0 || p > 100)
      throw new ConfigError(`${where}: ${name} must be an integer in [0, 100], got ${p}`);
  }
  return { ...f };
}
