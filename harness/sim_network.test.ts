// Tests of the simulated network: FIFO per connection, delay bounds, partitions and heal, fault rates
// within bounds over many messages, and one seed giving one delivery trace, byte for byte.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, InvariantViolation } from './media/errors.ts';
import { Prng } from './prng.ts';
import { type Delivery, type LinkFaults, PERFECT_LINK, SimNetwork } from './sim_network.ts';

const NODES = ['src0', 'src1', 'dst'] as const;
const CONNECTIONS: readonly [string, string][] = [
  ['src0', 'dst'],
  ['dst', 'src0'],
  ['src1', 'dst'],
  ['dst', 'src1'],
  ['src0', 'src1'],
  ['src1', 'src0'],
];

function faults(overrides: Partial<LinkFaults>): LinkFaults {
  return { ...PERFECT_LINK, ...overrides };
}

function network(seed: number, defaults: LinkFaults): SimNetwork {
  return new SimNetwork(new Prng(seed), { nodes: NODES, defaults });
}

/** A message naming its connection-local number, so a receiver can check order. */
function numbered(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n, true);
  return bytes;
}

function numberOf(d: Delivery): number {
  return new DataView(d.bytes.buffer, d.bytes.byteOffset).getUint32(0, true);
}

/**
 * Sends random traffic for `ticks` ticks (what to send comes from its own PRNG, not the network's),
 * then ticks until nothing is in flight. Returns every delivery.
 */
function drive(net: SimNetwork, workloadSeed: number, ticks: number, sendsPerTickMax: number): Delivery[] {
  const workload = new Prng(workloadSeed);
  const next = new Map<string, number>();
  const deliveries: Delivery[] = [];
  for (let t = 0; t < ticks; t++) {
    const sends = workload.int(sendsPerTickMax + 1);
    for (let i = 0; i < sends; i++) {
      const [from, to] = workload.pick(CONNECTIONS);
      const key = `${from}>${to}`;
      const n = next.get(key) ?? 0;
      next.set(key, n + 1);
      net.send(from, to, numbered(n));
    }
    deliveries.push(...net.tick());
  }
  while (net.inFlight() > 0) deliveries.push(...net.tick());
  return deliveries;
}

function byConnection(deliveries: readonly Delivery[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const d of deliveries) {
    const key = `${d.from}>${d.to}`;
    const list = out.get(key) ?? [];
    list.push(numberOf(d));
    out.set(key, list);
  }
  return out;
}

/** How many deliveries arrived after a later-sent message of the same connection. */
function outOfOrder(deliveries: readonly Delivery[]): number {
  let count = 0;
  for (const numbers of byConnection(deliveries).values()) {
    let highest = -1;
    for (const n of numbers) {
      if (n < highest) count++;
      highest = Math.max(highest, n);
    }
  }
  return count;
}

function trace(deliveries: readonly Delivery[], net: SimNetwork): string {
  const lines = deliveries.map(
    (d) =>
      `${d.deliveredTick} #${d.id} ${d.from}>${d.to} sent=${d.sentTick}${d.duplicate ? ' dup' : ''} ` +
      Buffer.from(d.bytes).toString('hex'),
  );
  return `${lines.join('\n')}\n${JSON.stringify(net.stats)}`;
}

describe('ordering and delay', () => {
  it('delivers every message once, in order per connection, when reordering is off', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 6 }),
        (seed, min, spread) => {
          const net = network(
            seed,
            faults({ deliveryDelayTicksMin: min, deliveryDelayTicksMax: min + spread }),
          );
          const deliveries = drive(net, seed ^ 0x5a5a, 60, 4);
          const stats = net.stats;
          expect(stats.delivered).toBe(stats.sent);
          for (const numbers of byConnection(deliveries).values())
            expect(numbers).toEqual(numbers.map((_, i) => i));
        },
      ),
      { numRuns: 40, seed: 4701 },
    );
  });

  it('keeps every delivery within the delay bounds, with every fault on', () => {
    const net = network(11, {
      deliveryDelayTicksMin: 3,
      deliveryDelayTicksMax: 7,
      lossPercent: 10,
      duplicatePercent: 20,
      reorderPercent: 30,
    });
    const deliveries = drive(net, 12, 400, 5);
    expect(deliveries.length).toBeGreaterThan(500);
    const delays = new Set(deliveries.map((d) => d.deliveredTick - d.sentTick));
    expect([...delays].sort()).toEqual([3, 4, 5, 6, 7]);
  });

  it('never delivers a duplicate before its original, and only ever in order when only duplicating', () => {
    const net = network(
      5,
      faults({ deliveryDelayTicksMin: 1, deliveryDelayTicksMax: 6, duplicatePercent: 30 }),
    );
    const deliveries = drive(net, 6, 300, 4);
    const seen = new Set<number>();
    for (const d of deliveries) {
      if (d.duplicate) expect(seen.has(d.id)).toBe(true);
      seen.add(d.id);
    }
    for (const numbers of byConnection(deliveries).values())
      for (let i = 1; i < numbers.length; i++) expect(numbers[i]!).toBeGreaterThanOrEqual(numbers[i - 1]!);
  });

  it('hands each receiver its own copy of the bytes', () => {
    const net = network(1, faults({ duplicatePercent: 100 }));
    const bytes = numbered(7);
    net.send('src0', 'dst', bytes);
    bytes.fill(0xff);
    const [original, copy] = net.tick();
    expect(numberOf(original!)).toBe(7);
    original!.bytes.fill(0);
    expect(numberOf(copy!)).toBe(7);
    expect(copy!.duplicate).toBe(true);
  });
});

describe('partitions', () => {
  it('drops what is in flight both ways and what is sent while cut; heal resumes delivery', () => {
    const net = network(3, faults({ deliveryDelayTicksMin: 2, deliveryDelayTicksMax: 5 }));
    for (let i = 0; i < 5; i++) {
      net.send('src0', 'dst', numbered(i));
      net.send('dst', 'src0', numbered(i));
      net.send('src1', 'dst', numbered(i));
    }
    expect(net.inFlight()).toBe(15);
    net.partition('dst', 'src0');
    expect(net.isPartitioned('src0', 'dst')).toBe(true);
    expect(net.isPartitioned('src1', 'dst')).toBe(false);
    expect(net.inFlight('src0', 'dst') + net.inFlight('dst', 'src0')).toBe(0);
    expect(net.inFlight('src1', 'dst')).toBe(5);
    net.send('src0', 'dst', numbered(100));
    net.send('dst', 'src0', numbered(100));
    const during: Delivery[] = [];
    for (let t = 0; t < 10; t++) during.push(...net.tick());
    // Only the other link's messages arrive.
    expect(during.map((d) => `${d.from}>${d.to}`)).toEqual(Array(5).fill('src1>dst'));
    expect(net.stats.droppedByPartition).toBe(12);

    net.heal('src0', 'dst');
    expect(net.isPartitioned('src0', 'dst')).toBe(false);
    net.send('src0', 'dst', numbered(200));
    net.send('dst', 'src0', numbered(201));
    const after: Delivery[] = [];
    for (let t = 0; t < 5; t++) after.push(...net.tick());
    expect(after.map(numberOf).sort()).toEqual([200, 201]);
  });

  it('healAll ends every partition', () => {
    const net = network(1, PERFECT_LINK);
    net.partition('src0', 'dst');
    net.partition('src1', 'dst');
    net.healAll();
    expect(net.isPartitioned('src0', 'dst') || net.isPartitioned('src1', 'dst')).toBe(false);
  });

  it('dropInFlight(node) drops what is addressed to it, not what it sent', () => {
    const net = network(1, faults({ deliveryDelayTicksMin: 3, deliveryDelayTicksMax: 3 }));
    net.send('src0', 'dst', numbered(1));
    net.send('src1', 'dst', numbered(2));
    net.send('dst', 'src0', numbered(3));
    expect(net.dropInFlight('dst')).toBe(2);
    expect(net.stats.droppedByCrash).toBe(2);
    const delivered = [...net.tick(), ...net.tick(), ...net.tick()];
    expect(delivered.map((d) => [d.from, d.to, numberOf(d)])).toEqual([['dst', 'src0', 3]]);
  });
});

describe('fault rates over many messages', () => {
  const SENDS = 10_000;

  function blast(linkFaults: LinkFaults, seed: number): { net: SimNetwork; deliveries: Delivery[] } {
    const net = network(seed, linkFaults);
    const deliveries: Delivery[] = [];
    // Ten messages a tick on one connection, so that reordered ones have something to overtake.
    for (let i = 0; i < SENDS; i++) {
      net.send('src0', 'dst', numbered(i));
      if (i % 10 === 9) deliveries.push(...net.tick());
    }
    while (net.inFlight() > 0) deliveries.push(...net.tick());
    return { net, deliveries };
  }

  // Each bound is about five standard deviations of a binomial(10000, p) around its mean.
  it('loses about lossPercent of messages', () => {
    const { net, deliveries } = blast(faults({ lossPercent: 10 }), 21);
    expect(net.stats.lost).toBeGreaterThan(850);
    expect(net.stats.lost).toBeLessThan(1150);
    expect(deliveries.length).toBe(SENDS - net.stats.lost);
  });

  it('duplicates about duplicatePercent of messages', () => {
    const { net, deliveries } = blast(faults({ duplicatePercent: 10 }), 22);
    expect(net.stats.duplicated).toBeGreaterThan(850);
    expect(net.stats.duplicated).toBeLessThan(1150);
    expect(deliveries.length).toBe(SENDS + net.stats.duplicated);
    expect(deliveries.filter((d) => d.duplicate).length).toBe(net.stats.duplicated);
  });

  it('reorders about reorderPercent of messages, and never without it', () => {
    const delay = { deliveryDelayTicksMin: 1, deliveryDelayTicksMax: 8 };
    const { net, deliveries } = blast(faults({ ...delay, reorderPercent: 20 }), 23);
    expect(net.stats.reordered).toBeGreaterThan(1800);
    expect(net.stats.reordered).toBeLessThan(2200);
    expect(outOfOrder(deliveries)).toBeGreaterThan(500);
    expect(deliveries.length).toBe(SENDS);

    const fifo = blast(faults(delay), 23);
    expect(fifo.net.stats.reordered).toBe(0);
    expect(outOfOrder(fifo.deliveries)).toBe(0);
  });
});

describe('determinism', () => {
  const noisy: LinkFaults = {
    deliveryDelayTicksMin: 1,
    deliveryDelayTicksMax: 6,
    lossPercent: 5,
    duplicatePercent: 5,
    reorderPercent: 10,
  };

  /** A fixed script: random traffic from a fixed workload seed, a partition, a heal and a crash. */
  function scripted(networkSeed: number, linkFaults: LinkFaults): string {
    const net = network(networkSeed, linkFaults);
    const workload = new Prng(99);
    const deliveries: Delivery[] = [];
    for (let t = 0; t < 200; t++) {
      if (t === 50) net.partition('src0', 'dst');
      if (t === 80) net.heal('src0', 'dst');
      if (t === 120) net.dropInFlight('src1');
      for (let i = workload.int(4); i > 0; i--) {
        const [from, to] = workload.pick(CONNECTIONS);
        net.send(from, to, numbered(workload.u32()));
      }
      deliveries.push(...net.tick());
    }
    return trace(deliveries, net);
  }

  it('gives the same delivery trace, byte for byte, for the same seed and inputs', () => {
    const first = scripted(1234, noisy);
    expect(first.split('\n').length).toBeGreaterThan(200);
    expect(scripted(1234, noisy)).toBe(first);
  });

  it('gives another trace for another seed when faults are on', () => {
    expect(scripted(1235, noisy)).not.toBe(scripted(1234, noisy));
  });

  it('draws nothing on a fault-free fixed-delay link: the seed does not matter', () => {
    expect(scripted(1, PERFECT_LINK)).toBe(scripted(2, PERFECT_LINK));
  });
});

describe('configuration', () => {
  it('refuses faults that cannot describe a link', () => {
    const bad: Partial<LinkFaults>[] = [
      { deliveryDelayTicksMin: 0 },
      { deliveryDelayTicksMin: 3, deliveryDelayTicksMax: 2 },
      { deliveryDelayTicksMax: 1.5 },
      { lossPercent: 101 },
      { duplicatePercent: -1 },
      { reorderPercent: 2.5 },
    ];
    for (const overrides of bad) expect(() => network(1, faults(overrides))).toThrow(ConfigError);
    const net = network(1, PERFECT_LINK);
    expect(() => net.configureLink('src0', 'dst', faults({ lossPercent: 200 }))).toThrow(ConfigError);
    expect(() => new SimNetwork(new Prng(1), { nodes: ['dst', 'dst'] })).toThrow(ConfigError);
  });

  it('applies per-link faults to that link only, both directions', () => {
    const net = network(1, PERFECT_LINK);
    net.configureLink('dst', 'src0', faults({ lossPercent: 100 }));
    expect(net.faultsOf('src0', 'dst').lossPercent).toBe(100);
    net.send('src0', 'dst', numbered(1));
    net.send('dst', 'src0', numbered(2));
    net.send('src1', 'dst', numbered(3));
    expect(net.tick().map(numberOf)).toEqual([3]);
    expect(net.stats.lost).toBe(2);
  });

  it('treats an unknown node or a self-link as a bug', () => {
    const net = network(1, PERFECT_LINK);
    expect(() => net.send('src9', 'dst', numbered(1))).toThrow(InvariantViolation);
    expect(() => net.send('dst', 'dst', numbered(1))).toThrow(InvariantViolation);
  });
});
