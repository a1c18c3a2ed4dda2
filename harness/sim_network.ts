// The simulated network: links between named nodes carrying opaque byte messages, in ticks.
// Fault model, per link: delivery delay in [min, max] ticks, partitions (drop in flight and while cut),
// and optional loss, duplication and reordering; in-order per connection (from → to) otherwise.

import { assert, ConfigError } from '../impl/errors.ts';
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
  private readonly linkFaults = new Map<string, LinkFaults>();
  private readonly partitioned = new Set<string>();
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
      return id;
    }
    const faults = this.faultsOf(from, to);
    if (this.draw(faults.lossPercent)) {
      this.counters.lost++;
      this.noteFault(from, to);
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

  /**
   * The last tick the link between `a` and `b` had a fault: a message lost, dropped (partition or a
   * crash), duplicated or reordered, or the link cut or healed; -Infinity if never. Rule L1 reads it.
   */
  lastFaultTick(a: NodeId, b: NodeId): number {
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

  /** Heals every partitioned link: the start of a liveness phase. */
  healAll(): void {
    this.partitioned.clear();
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
  ): void {
    const connection = `${from}>${to}`;
    const delayTicks =
      faults.deliveryDelayTicksMin === faults.deliveryDelayTicksMax
        ? faults.deliveryDelayTicksMin
        : this.prng.between(faults.deliveryDelayTicksMin, faults.deliveryDelayTicksMax);
    const last = this.lastDueTick.get(connection) ?? 0;
    // In order: never due before what was sent earlier on the connection. Everything earlier was sent
    // no sooner and is due by its own send tick + max, so waiting for it keeps the delay within max.
    const deliverTick = reorder ? this.nowTick + delayTicks : Math.max(this.nowTick + delayTicks, last);
    assert(deliverTick > this.nowTick, 'network: delivery is in the future');
    this.lastDueTick.set(connection, Math.max(last, deliverTick));
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
