// Tests of the reference target on its own, driven by hand through the conformance-target interface
// (harness/target.ts): frames on the wire and the ones that fail to decode, what observe() shows of a
// server that is down, routing after failover, the canary knobs the target itself implements (wrapped
// LBAs, source timers on the peer's clock, a scrub that repairs nothing), and its refusals.

import { describe, expect, it } from 'vitest';
import { Disk } from '../harness/media/disk.ts';
import { InvariantViolation, PowerLoss } from '../harness/media/errors.ts';
import { type PresetOptions, smallWorld } from '../harness/presets.ts';
import type { Effect, NodeId, NodeMedia, TargetInstance, WorldSpec } from '../harness/target.ts';
import { makeMedia } from '../harness/world.ts';
import {
  DESTINATION_ID,
  describeReferenceFrame,
  referenceTarget,
  type Variation,
} from './reference_target.ts';
import { decodeMessage, encodeMessage, type Message, WireError } from './wire.ts';

const BLOCK_BYTES = 64;
const LBA_COUNT = 16;
const CP_INTERVAL_TICKS = 10;
const ACK_TIMEOUT_TICKS = 4;

function block(fill: number): Uint8Array {
  return new Uint8Array(BLOCK_BYTES).fill(fill);
}

interface Ack {
  readonly node: NodeId;
  readonly writeId: number;
  readonly ok: boolean;
  readonly error?: string;
}

/** The reference target booted on a small world, its frames carried by hand, in the order sent. */
class Rig {
  readonly spec: WorldSpec;
  readonly media: Record<NodeId, NodeMedia>;
  readonly target: TargetInstance;
  /** Frames in flight, and every frame and answer seen, in order. */
  inFlight: Extract<Effect, { kind: 'send' }>[] = [];
  readonly sent: Extract<Effect, { kind: 'send' }>[] = [];
  readonly acks: Ack[] = [];

  constructor(variation: Variation = {}, preset: PresetOptions = {}) {
    this.spec = smallWorld({
      blockBytes: BLOCK_BYTES,
      lbaCount: LBA_COUNT,
      nvlogHalfEntries: 4,
      cpIntervalTicks: CP_INTERVAL_TICKS,
      ackTimeoutTicks: ACK_TIMEOUT_TICKS,
      ...preset,
    });
    this.media = makeMedia(this.spec);
    this.target = referenceTarget('rig', 'the reference, by hand', variation).boot(this.spec, this.media);
  }

  collect(): void {
    for (const e of this.target.drainEffects()) {
      if (e.kind === 'send') {
        this.inFlight.push(e);
        this.sent.push(e);
      } else {
        const ack = { node: e.node, writeId: e.writeId, ok: e.ok };
        this.acks.push(e.error === undefined ? ack : { ...ack, error: e.error });
      }
    }
  }

  /** Delivers every frame in flight until none is. */
  deliverAll(): void {
    for (let round = 0; round < 100; round++) {
      this.collect();
      if (this.inFlight.length === 0) return;
      for (const f of this.inFlight.splice(0)) this.target.receive(f.to, f.from, f.bytes);
    }
    throw new Error('frames still in flight after 100 rounds');
  }

  dropInFlight(): void {
    this.collect();
    this.inFlight = [];
  }

  write(writeId: number, lba: number, fill: number, source = 'src0'): void {
    this.target.clientWrite(source, { writeId, lba, data: block(fill) });
    this.collect();
  }

  /** Ticks every node (sources first, as the world does) `ticks` times, delivering after each. */
  tick(ticks: number, deliver = true): void {
    for (let i = 0; i < ticks; i++) {
      for (const s of this.spec.sources) this.target.tick(s.id);
      this.target.tick(DESTINATION_ID);
      if (deliver) this.deliverAll();
      else this.collect();
    }
  }

  acksTo(writeId: number): Ack[] {
    return this.acks.filter((a) => a.writeId === writeId);
  }

  messages(): Message[] {
    return this.sent.map((f) => {
      const m = decodeMessage(f.bytes);
      if (m instanceof WireError) throw new Error(String(m));
      return m;
    });
  }

  src0() {
    return this.target.observe().sources.src0!;
  }
}

/** Writes 1..count (LBA i, fill i), each delivered, then one CP interval: all committed on both sides. */
function committed(rig: Rig, count: number): void {
  for (let i = 1; i <= count; i++) {
    rig.write(i, i, i);
    rig.deliverAll();
  }
  rig.tick(CP_INTERVAL_TICKS);
}

describe('frames', () => {
  it('sends checksummed frames between src0 and dst, and answers the client on the source', () => {
    const rig = new Rig();
    rig.write(1, 3, 1);
    expect(rig.inFlight.map((f) => [f.kind, f.from, f.to])).toEqual([['send', 'src0', DESTINATION_ID]]);
    expect(decodeMessage(rig.inFlight[0]!.bytes)).toMatchObject({
      kind: 'log-entry',
      source: 'src0',
      seq: 1,
    });
    expect(rig.acks).toEqual([]);
    rig.deliverAll();
    expect(rig.acks).toEqual([{ node: 'src0', writeId: 1, ok: true }]);
    expect(rig.sent.at(-1)).toMatchObject({ from: DESTINATION_ID, to: 'src0' });
    expect(rig.target.logFile('src0')).toEqual([{ source: 'src0', seq: 1, lba: 3, data: block(1) }]);
  });

  it('drops a frame that does not decode, counting it, and applies nothing of it', () => {
    const rig = new Rig();
    rig.write(1, 3, 1);
    const frame = rig.inFlight.splice(0)[0]!;
    const corrupt = frame.bytes.slice();
    corrupt[corrupt.length - 1]! ^= 1; // the checksum itself: the payload still parses
    rig.target.receive(DESTINATION_ID, 'src0', corrupt);
    rig.collect();
    expect((rig.target as unknown as { rejectedFrames: number }).rejectedFrames).toBe(1);
    expect(rig.target.logFile('src0')).toEqual([]);
    expect(rig.inFlight).toEqual([]);
    expect(rig.target.describeMessage!(corrupt, 'src0')).toBeNull();
    // The frame as sent is taken.
    rig.target.receive(DESTINATION_ID, 'src0', frame.bytes);
    rig.deliverAll();
    expect(rig.acksTo(1)).toEqual([{ node: 'src0', writeId: 1, ok: true }]);
  });

  it('skipFrameChecksum: a frame whose checksum is wrong is taken as it reads', () => {
    const rig = new Rig({ skipFrameChecksum: true });
    rig.write(1, 3, 1);
    const corrupt = rig.inFlight.splice(0)[0]!.bytes.slice();
    corrupt[corrupt.length - 1]! ^= 1;
    rig.target.receive(DESTINATION_ID, 'src0', corrupt);
    rig.deliverAll();
    expect((rig.target as unknown as { rejectedFrames: number }).rejectedFrames).toBe(0);
    expect(rig.target.logFile('src0').map((r) => r.seq)).toEqual([1]);
    expect(rig.acksTo(1)).toEqual([{ node: 'src0', writeId: 1, ok: true }]);
  });

  it('a frame for a node it does not know, or for a source that is down, is dropped', () => {
    const rig = new Rig();
    const ack = encodeMessage({ kind: 'log-ack', source: 'src0', seq: 1 });
    rig.write(1, 3, 1);
    rig.dropInFlight();
    rig.target.receive('nobody', DESTINATION_ID, ack);
    rig.collect();
    expect(rig.acks).toEqual([]);
    rig.target.crash('src0');
    rig.target.receive('src0', DESTINATION_ID, ack);
    rig.collect();
    expect(rig.acks).toEqual([]);
  });

  it('describes its frames in its wire format’s terms, and nothing that is not one', () => {
    const cpSync = encodeMessage({
      kind: 'cp-sync',
      source: 'src0',
      cpNumber: 4,
      coveredSeq: 17,
      updates: [],
      resync: true,
      baseCp: 3,
    });
    expect(describeReferenceFrame(cpSync)).toEqual({
      kind: 'cp-sync',
      resync: true,
      text: 'cp-sync src0 cp=4 base=3 covered=17 updates=0 resync',
    });
    const hello = encodeMessage({ kind: 'hello', source: 'src0', lastCommittedCp: 2, helloSeq: 1 });
    expect(describeReferenceFrame(hello)).toEqual({ kind: 'hello', resync: false, text: 'hello src0 cp=2' });
    expect(describeReferenceFrame(new Uint8Array(20))).toBeNull();
    const rig = new Rig();
    expect(rig.target.describeMessage!(hello, 'src0')).toEqual(describeReferenceFrame(hello));
  });
});

describe('observation', () => {
  it('shows each source’s CPs, the one in progress and the writes pending', () => {
    const rig = new Rig();
    expect(rig.target.observe()).toEqual({
      destinationUp: true,
      sources: {
        src0: {
          up: true,
          relationship: 'in-sync',
          primaryCp: 0,
          mirrorCp: 0,
          cpInProgress: false,
          pendingWrites: 0,
        },
      },
    });
    rig.write(1, 1, 1);
    expect(rig.src0().pendingWrites).toBe(1);
    rig.deliverAll();
    for (let i = 0; i < CP_INTERVAL_TICKS; i++) rig.target.tick('src0');
    rig.collect();
    expect(rig.src0()).toMatchObject({ primaryCp: 1, mirrorCp: 0, cpInProgress: true, pendingWrites: 0 });
    rig.deliverAll();
    expect(rig.src0()).toMatchObject({ primaryCp: 1, mirrorCp: 1, cpInProgress: false });
  });

  it('a source down shows as up: false, out of sync, with the CPs last seen; its reads are refused', () => {
    const rig = new Rig();
    committed(rig, 2);
    rig.write(3, 3, 3);
    rig.target.crash('src0');
    rig.dropInFlight();
    expect(rig.src0()).toEqual({
      up: false,
      relationship: 'out-of-sync',
      primaryCp: 1,
      mirrorCp: 1,
      cpInProgress: false,
      pendingWrites: 0,
    });
    expect(rig.target.clientRead('src0', 1)).toEqual({ ok: false, error: 'source src0 is down' });
    expect(() => rig.target.readPrimaryCommitted('src0', 1)).toThrow(new RangeError('source src0 is down'));
    expect(() => rig.target.liveVbns('src0', 'primary')).toThrow(RangeError);
    expect(() => rig.target.readVbn('src0', 'primary', 1)).toThrow(RangeError);
    // Ticks and scrubs of a node that is down do nothing; the mirror is still there to read.
    rig.target.tick('src0');
    rig.target.scrub!('src0');
    rig.collect();
    expect(rig.inFlight).toEqual([]);
    expect(rig.target.readMirrorCommitted('src0', 2)).toEqual(block(2));
    // Restarted: the NVLOG's write 3 committed in a recovery CP, and a hello from it.
    rig.target.restart('src0');
    rig.collect();
    expect(rig.src0()).toMatchObject({ up: true, relationship: 'out-of-sync', primaryCp: 2 });
    expect(rig.target.readPrimaryCommitted('src0', 3)).toEqual(block(3));
    expect(rig.messages().at(-1)).toEqual({ kind: 'hello', source: 'src0', lastCommittedCp: 2, helloSeq: 1 });
    rig.tick(5);
    expect(rig.src0()).toMatchObject({ relationship: 'in-sync', primaryCp: rig.src0().mirrorCp });
  });

  it('the destination down: mirror reads refused, the mirror CP last seen kept, failover refused', () => {
    const rig = new Rig();
    committed(rig, 2);
    rig.target.crash(DESTINATION_ID);
    expect(rig.target.observe().destinationUp).toBe(false);
    expect(rig.src0()).toMatchObject({ up: true, mirrorCp: 1, primaryCp: 1 });
    expect(() => rig.target.readMirrorCommitted('src0', 1)).toThrow(
      new RangeError('the destination is down'),
    );
    expect(() => rig.target.liveVbns('src0', 'mirror')).toThrow(RangeError);
    expect(() => rig.target.readVbn('src0', 'mirror', 1)).toThrow(RangeError);
    expect(() => rig.target.logFile('src0')).toThrow(RangeError);
    expect(() => rig.target.failover('src0')).toThrow('failover needs the destination up');
    // The source still serves; what it sends the destination is dropped.
    rig.write(3, 3, 3);
    rig.tick(1);
    rig.target.receive(
      DESTINATION_ID,
      'src0',
      encodeMessage({ kind: 'hello', source: 'src0', lastCommittedCp: 1, helloSeq: 1 }),
    );
    rig.target.scrub!(DESTINATION_ID);
    rig.collect();
    expect(rig.inFlight.filter((f) => f.from === DESTINATION_ID)).toEqual([]);
    expect(rig.target.clientRead('src0', 3)).toEqual({ ok: true, data: block(3) });
    rig.target.restart(DESTINATION_ID);
    expect(rig.target.observe().destinationUp).toBe(true);
    expect(rig.target.readMirrorCommitted('src0', 2)).toEqual(block(2));
  });

  it('primary and mirror VBNs: the same live set and contents once in sync', () => {
    const rig = new Rig();
    committed(rig, 3);
    const vbns = rig.target.liveVbns('src0', 'primary');
    expect(vbns.length).toBeGreaterThan(3);
    expect(rig.target.liveVbns('src0', 'mirror')).toEqual(vbns);
    for (const vbn of vbns)
      expect(rig.target.readVbn('src0', 'mirror', vbn)).toEqual(rig.target.readVbn('src0', 'primary', vbn));
    // Many VBNs in one call, in the order asked, each what readVbn gives; none is no blocks.
    const asked = [...vbns].reverse();
    for (const side of ['primary', 'mirror'] as const) {
      expect(rig.target.readVbns!('src0', side, asked)).toEqual(
        asked.map((vbn) => rig.target.readVbn('src0', side, vbn)),
      );
      expect(rig.target.readVbns!('src0', side, [])).toEqual([]);
    }
    expect(rig.target.readPrimaryCommitted('src0', 2)).toEqual(block(2));
    expect(rig.target.readMirrorCommitted('src0', 2)).toEqual(block(2));
    // Each side from its own node: with the destination down, only the mirror's are refused.
    rig.target.crash(DESTINATION_ID);
    expect(rig.target.readVbns!('src0', 'primary', asked)).toHaveLength(asked.length);
    expect(() => rig.target.readVbns!('src0', 'mirror', asked)).toThrow(
      new RangeError('the destination is down'),
    );
  });

  it('a whole committed image, either side, is what LBA-by-LBA reads give; refused as they are', () => {
    const rig = new Rig();
    committed(rig, 3);
    rig.write(4, 4, 4);
    const lbas = rig.target.readCommittedImage!('src0', 'primary').length;
    expect(lbas).toBeGreaterThan(3);
    for (const side of ['primary', 'mirror'] as const) {
      const image = rig.target.readCommittedImage!('src0', side);
      const read = side === 'primary' ? rig.target.readPrimaryCommitted : rig.target.readMirrorCommitted;
      expect(image).toEqual(Array.from({ length: lbas }, (_, lba) => read.call(rig.target, 'src0', lba)));
      expect(image[2]).toEqual(block(2));
    }
    rig.target.crash('src0');
    expect(() => rig.target.readCommittedImage!('src0', 'primary')).toThrow(
      new RangeError('source src0 is down'),
    );
    rig.target.crash(DESTINATION_ID);
    expect(() => rig.target.readCommittedImage!('src0', 'mirror')).toThrow(
      new RangeError('the destination is down'),
    );
  });
});

describe('failover', () => {
  it('routes writes and reads to the promoted mirror; failed over, whoever is up', () => {
    const rig = new Rig();
    committed(rig, 2);
    rig.target.crash('src0');
    rig.target.failover('src0');
    rig.collect();
    expect(rig.src0().relationship).toBe('failed-over');
    expect(rig.target.clientRead('src0', 2)).toEqual({ ok: true, data: block(2) });
    rig.write(5, 4, 5);
    expect(rig.acksTo(5)).toEqual([{ node: DESTINATION_ID, writeId: 5, ok: true }]);
    expect(rig.target.clientRead('src0', 4)).toEqual({ ok: true, data: block(5) });
    // The old source restarts and is fenced; the destination crashes: failed over all the same.
    rig.target.restart('src0');
    rig.tick(2);
    const mirrorCp = rig.src0().mirrorCp;
    expect(mirrorCp).toBeGreaterThan(1);
    rig.target.crash(DESTINATION_ID);
    // (The world sends no request to a node that is down.)
    expect(rig.src0()).toMatchObject({ up: true, relationship: 'failed-over', mirrorCp });
  });
});

describe('LBAs out of range', () => {
  it('are refused by the reference, reads and writes alike', () => {
    const rig = new Rig();
    rig.write(1, LBA_COUNT + 3, 1);
    expect(rig.acksTo(1)).toEqual([
      {
        node: 'src0',
        writeId: 1,
        ok: false,
        error: `LBA ${LBA_COUNT + 3} outside the volume (0..${LBA_COUNT - 1})`,
      },
    ]);
    expect(rig.target.clientRead('src0', LBA_COUNT)).toEqual({
      ok: false,
      error: `LBA ${LBA_COUNT} outside the volume (0..${LBA_COUNT - 1})`,
    });
  });

  it('wrapOutOfRangeLbas: wrap around the volume', () => {
    const rig = new Rig({ wrapOutOfRangeLbas: true });
    rig.write(1, LBA_COUNT + 3, 7);
    rig.deliverAll();
    expect(rig.acksTo(1)).toEqual([{ node: 'src0', writeId: 1, ok: true }]);
    expect(rig.target.clientRead('src0', 3)).toEqual({ ok: true, data: block(7) });
    expect(rig.target.clientRead('src0', 2 * LBA_COUNT + 3)).toEqual({ ok: true, data: block(7) });
    expect(rig.target.clientRead('src0', 4)).toEqual({ ok: true, data: block(0) });
  });
});

describe('reads the RAID group cannot serve', () => {
  it('fail with the RAID layer’s reason instead of throwing', () => {
    const rig = new Rig();
    committed(rig, 2);
    const primary = rig.media.src0!.groups.primary!;
    primary[0]!.fail();
    primary[1]!.fail();
    const results = Array.from({ length: LBA_COUNT }, (_, lba) => rig.target.clientRead('src0', lba));
    expect(results.some((r) => !r.ok)).toBe(true);
    for (const r of results) if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
  });
});

describe('source timers on the peer’s clock', () => {
  it('a source’s ticks wait for the destination’s, and run all at its next tick', () => {
    const rig = new Rig({ sourceTimersOnPeerClock: true });
    rig.write(1, 1, 1);
    rig.dropInFlight();
    // The source alone ticks well past its ack timeout: nothing happens until the destination ticks.
    for (let i = 0; i < 2 * ACK_TIMEOUT_TICKS; i++) rig.target.tick('src0');
    rig.collect();
    expect(rig.src0().relationship).toBe('in-sync');
    expect(rig.acksTo(1)).toEqual([]);
    rig.target.tick(DESTINATION_ID);
    rig.collect();
    expect(rig.src0().relationship).toBe('out-of-sync');
    expect(rig.acksTo(1)).toEqual([{ node: 'src0', writeId: 1, ok: true }]);
    // The held ticks ran once, not again at the next destination tick: the next hello waits its turn.
    const hellos = () => rig.messages().filter((m) => m.kind === 'hello').length;
    const before = hellos();
    rig.target.tick(DESTINATION_ID);
    rig.collect();
    expect(hellos()).toBe(before);
  });

  it('with the destination down, a source’s ticks run at once', () => {
    const rig = new Rig({ sourceTimersOnPeerClock: true });
    rig.write(1, 1, 1);
    rig.dropInFlight();
    rig.target.crash(DESTINATION_ID);
    for (let i = 0; i < ACK_TIMEOUT_TICKS; i++) rig.target.tick('src0');
    rig.collect();
    expect(rig.src0().relationship).toBe('out-of-sync');
  });

  it('the reference ticks a source on its own clock', () => {
    const rig = new Rig();
    rig.write(1, 1, 1);
    rig.dropInFlight();
    for (let i = 0; i < ACK_TIMEOUT_TICKS; i++) rig.target.tick('src0');
    rig.collect();
    expect(rig.src0().relationship).toBe('out-of-sync');
  });
});

describe('disks', () => {
  function latent(rig: Rig, node: NodeId, group: string): { disk: Disk; dbn: number } {
    const disk = rig.media[node]!.groups[group]![0]!;
    const dbn = disk.storedDbns()[0]!;
    disk.plantLatentError(dbn);
    expect(disk.verifies(dbn)).toBe(false);
    return { disk, dbn };
  }

  it('a scrub of either node repairs its latent errors; scrubRepairsNothing repairs none', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ scrubRepairsNothing: unsafe });
      committed(rig, 4);
      const primary = latent(rig, 'src0', 'primary');
      const mirror = latent(rig, DESTINATION_ID, 'mirror:src0');
      rig.target.scrub!('src0');
      expect(primary.disk.verifies(primary.dbn), `unsafe ${unsafe}`).toBe(!unsafe);
      expect(mirror.disk.verifies(mirror.dbn), `unsafe ${unsafe}`).toBe(false);
      rig.target.scrub!(DESTINATION_ID);
      expect(mirror.disk.verifies(mirror.dbn), `unsafe ${unsafe}`).toBe(!unsafe);
    }
  });

  it('replaces a failed disk of either node and rebuilds it', () => {
    const rig = new Rig();
    committed(rig, 4);
    for (const [node, group] of [
      ['src0', 'primary'],
      [DESTINATION_ID, 'mirror:src0'],
    ] as const) {
      const members = rig.media[node]!.groups[group]!;
      const old = members[0]!;
      old.fail();
      const spare = new Disk({
        id: 'spare',
        blockCount: old.blockCount,
        blockBytes: old.blockBytes,
        power: old.power,
      });
      rig.target.replaceDisk(node, group, 0, spare);
      expect(members[0], `${node} ${group}`).toBe(spare);
      expect(spare.blocksStored, `${node} ${group}`).toBeGreaterThan(0);
      // Another disk lost: the rebuilt spare serves its share.
      members[1]!.fail();
    }
    for (let lba = 1; lba <= 4; lba++) {
      expect(rig.target.readPrimaryCommitted('src0', lba)).toEqual(block(lba));
      expect(rig.target.readMirrorCommitted('src0', lba)).toEqual(block(lba));
    }
  });
});

describe('refusals', () => {
  it('a node that is not in the world, and a source without its media', () => {
    const rig = new Rig();
    expect(() => rig.target.restart('src9')).toThrow(new RangeError("no source 'src9' in this world"));
    const spec = smallWorld({ blockBytes: BLOCK_BYTES, lbaCount: LBA_COUNT });
    const media = makeMedia(spec);
    const bare = { ...media, src0: { power: media.src0!.power, groups: media.src0!.groups } };
    expect(() => referenceTarget().boot(spec, bare)).toThrow(
      new RangeError("source 'src0' has no NVRAM or primary group"),
    );
    const noPrimary = { ...media, src0: { ...media.src0!, groups: {} } };
    expect(() => referenceTarget().boot(spec, noPrimary)).toThrow(RangeError);
  });

  it('names itself as asked, the reference by default', () => {
    const reference = referenceTarget();
    expect([reference.name, reference.description, reference.expected]).toEqual([
      'reference',
      'the reference implementation',
      'pass',
    ]);
    const canary = referenceTarget('c', 'a canary', { readsFail: true }, 'fail');
    expect([canary.name, canary.description, canary.expected]).toEqual(['c', 'a canary', 'fail']);
  });
});

/** The frames src0 sent of kind cp-sync, decoded. */
function cpSyncs(rig: Rig): Extract<Message, { kind: 'cp-sync' }>[] {
  return rig.messages().filter((m): m is Extract<Message, { kind: 'cp-sync' }> => m.kind === 'cp-sync');
}

describe('each variation reaches the server it configures (and the reference has none)', () => {
  it('ackBeforeMirror: a sync write is acknowledged before its log entry left', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ ackBeforeMirror: unsafe });
      rig.write(1, 1, 1);
      expect(rig.acksTo(1).length, `unsafe ${unsafe}`).toBe(unsafe ? 1 : 0);
    }
  });

  it('reuseFreedBeforeCommit: a CP writes into a VBN the committed image still uses', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ reuseFreedBeforeCommit: unsafe });
      committed(rig, 3);
      const live = new Set(rig.target.liveVbns('src0', 'primary'));
      rig.write(10, 1, 10);
      rig.write(11, 2, 11);
      rig.deliverAll();
      rig.tick(CP_INTERVAL_TICKS);
      const cp2 = cpSyncs(rig).find((m) => m.cpNumber === 2)!;
      const overwritten = cp2.updates.slice(0, -1).filter((u) => live.has(u.vbn));
      expect(overwritten.length > 0, `unsafe ${unsafe}`).toBe(unsafe);
    }
  });

  it('dedupWeakFingerprint: a block equal to an earlier one in its first 64 bytes reads as that one', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ dedupWeakFingerprint: unsafe }, { blockBytes: 128 });
      const first = new Uint8Array(128).fill(1);
      const second = new Uint8Array(128).fill(1).fill(2, 64);
      rig.target.clientWrite('src0', { writeId: 1, lba: 1, data: first });
      rig.target.clientWrite('src0', { writeId: 2, lba: 2, data: second });
      expect(rig.target.clientRead('src0', 2), `unsafe ${unsafe}`).toEqual({
        ok: true,
        data: unsafe ? first : second,
      });
    }
  });

  it('zeroWriteAsHole: an all-zero write leaves the old block', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ zeroWriteAsHole: unsafe });
      rig.write(1, 1, 5);
      rig.write(2, 1, 0);
      expect(rig.target.clientRead('src0', 1), `unsafe ${unsafe}`).toEqual({
        ok: true,
        data: block(unsafe ? 5 : 0),
      });
    }
  });

  it('labelSpareFirst: a power cut early in a rebuild leaves a blank spare taken for data', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ labelSpareFirst: unsafe });
      committed(rig, 12);
      const members = rig.media.src0!.groups.primary!;
      const old = members[0]!;
      old.fail();
      const spare = new Disk({
        id: 'spare',
        blockCount: old.blockCount,
        blockBytes: old.blockBytes,
        power: old.power,
      });
      old.power.armCut(1, false);
      expect(() => rig.target.replaceDisk('src0', 'primary', 0, spare)).toThrow(PowerLoss);
      rig.target.crash('src0');
      old.power.restore();
      rig.target.restart('src0');
      const wrong = Array.from({ length: LBA_COUNT }, (_, lba) => lba).filter(
        (lba) =>
          !Buffer.from(rig.target.readPrimaryCommitted('src0', lba)).equals(
            Buffer.from(block(lba >= 1 && lba <= 12 ? lba : 0)),
          ),
      );
      expect(wrong.length > 0, `unsafe ${unsafe}`).toBe(unsafe);
    }
  });

  it('storeAndForward: the destination commits no CP sync; its mirror waits for its own timer', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ storeAndForward: unsafe });
      rig.write(1, 1, 1);
      rig.deliverAll();
      for (let i = 0; i < CP_INTERVAL_TICKS; i++) rig.target.tick('src0');
      rig.deliverAll();
      expect(rig.src0().primaryCp).toBe(1);
      expect(rig.src0().mirrorCp, `unsafe ${unsafe}`).toBe(unsafe ? 0 : 1);
    }
  });

  it('applyByDiskBlockNumber: the CP sync lands beside the mirror’s RAID, which never sees it', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ applyByDiskBlockNumber: unsafe });
      committed(rig, 4);
      expect(rig.target.readMirrorCommitted('src0', 2), `unsafe ${unsafe}`).toEqual(block(unsafe ? 0 : 2));
    }
  });

  it('failoverWithoutReplay: the promoted mirror lacks what only the log file held', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ failoverWithoutReplay: unsafe });
      committed(rig, 1);
      rig.write(2, 2, 2);
      rig.deliverAll();
      expect(rig.acksTo(2)).toEqual([{ node: 'src0', writeId: 2, ok: true }]);
      rig.target.crash('src0');
      rig.target.failover('src0');
      expect(rig.target.clientRead('src0', 1)).toEqual({ ok: true, data: block(1) });
      expect(rig.target.clientRead('src0', 2), `unsafe ${unsafe}`).toEqual({
        ok: true,
        data: block(unsafe ? 0 : 2),
      });
    }
  });

  it('applyStaleCpSync: a CP sync the mirror passed is applied again (and trips its assertion)', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ applyStaleCpSync: unsafe });
      committed(rig, 2);
      const cp1 = rig.sent.find((f) => rig.target.describeMessage!(f.bytes, 'src0')?.kind === 'cp-sync')!;
      rig.write(5, 1, 5);
      rig.deliverAll();
      rig.tick(CP_INTERVAL_TICKS);
      expect(rig.src0().mirrorCp).toBe(2);
      const stale = () => rig.target.receive(DESTINATION_ID, 'src0', cp1.bytes);
      if (unsafe) expect(stale).toThrow(InvariantViolation);
      else {
        stale();
        expect(rig.target.readMirrorCommitted('src0', 1)).toEqual(block(5));
      }
    }
  });

  it('rootFirst: a power cut after the root of a CP sync leaves a mirror whose new CP has no blocks', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ rootFirst: unsafe });
      committed(rig, 2);
      rig.write(5, 1, 5);
      rig.deliverAll();
      for (let i = 0; i < CP_INTERVAL_TICKS; i++) rig.target.tick('src0');
      rig.collect();
      const power = rig.media[DESTINATION_ID]!.power;
      power.armCut(1, false);
      expect(() => rig.deliverAll()).toThrow(PowerLoss);
      rig.target.crash(DESTINATION_ID);
      rig.inFlight = [];
      power.restore();
      rig.target.restart(DESTINATION_ID);
      // The reference keeps CP 1 whole; the canary mounts CP 2, whose blocks never landed.
      expect(rig.src0().mirrorCp, `unsafe ${unsafe}`).toBe(unsafe ? 2 : 1);
      expect(rig.target.readMirrorCommitted('src0', 2), `unsafe ${unsafe}`).toEqual(block(unsafe ? 0 : 2));
    }
  });
});

describe('more than the reference world’s defaults', () => {
  it('logTrustsStaleLap: a promoted volume whose log file wrapped replays an earlier lap at restart', () => {
    for (const unsafe of [false, true]) {
      const rig = new Rig({ logTrustsStaleLap: unsafe });
      rig.target.crash('src0');
      rig.target.failover('src0');
      // The log file holds 127 records: the 128th write makes room with a CP and lands in slot 0.
      for (let i = 1; i <= 130; i++) rig.write(i, i % LBA_COUNT, i % 251);
      expect(rig.acks.every((a) => a.ok && a.node === DESTINATION_ID)).toBe(true);
      rig.target.crash(DESTINATION_ID);
      rig.target.restart(DESTINATION_ID);
      const seqs = rig.target.logFile('src0').map((r) => r.seq);
      if (unsafe) expect(seqs.length).toBeGreaterThan(3);
      else expect(seqs).toEqual([128, 129, 130]);
    }
  });

  it('each source is configured from its own spec', () => {
    const base = smallWorld({ blockBytes: BLOCK_BYTES, lbaCount: LBA_COUNT, sources: 2 });
    const spec: WorldSpec = {
      ...base,
      sources: [base.sources[0]!, { ...base.sources[1]!, mode: 'strict-sync', lbaCount: 8 }],
    };
    const target = referenceTarget().boot(spec, makeMedia(spec));
    target.clientWrite('src0', { writeId: 1, lba: 10, data: block(1) });
    target.clientWrite('src1', { writeId: 2, lba: 10, data: block(2) });
    const acks = target.drainEffects().filter((e) => e.kind === 'ack');
    expect(acks).toEqual([
      { kind: 'ack', node: 'src1', writeId: 2, ok: false, error: 'LBA 10 outside the volume (0..7)' },
    ]);
    expect(target.clientRead('src1', 7)).toEqual({ ok: true, data: block(0) });
  });

  it('a power cut while a read repairs a latent error propagates, for the harness to crash the node', () => {
    const rig = new Rig();
    committed(rig, 8);
    const disk = rig.media.src0!.groups.primary![0]!;
    for (const dbn of disk.storedDbns().filter((d) => d < disk.blockCount - 1)) disk.plantLatentError(dbn);
    disk.power.armCut(1, false);
    let thrown: unknown = null;
    for (let lba = 0; lba < LBA_COUNT && thrown === null; lba++) {
      try {
        rig.target.clientRead('src0', lba);
      } catch (e) {
        thrown = e;
      }
    }
    expect(thrown).toBeInstanceOf(PowerLoss);
  });
});

describe('source timers on the peer’s clock, at the edges', () => {
  it('held ticks run exactly as many times as the source was ticked', () => {
    const rig = new Rig({ sourceTimersOnPeerClock: true });
    rig.write(1, 1, 1);
    rig.dropInFlight();
    for (let i = 0; i < ACK_TIMEOUT_TICKS - 1; i++) rig.target.tick('src0');
    rig.target.tick(DESTINATION_ID);
    rig.collect();
    expect(rig.src0().relationship).toBe('in-sync');
    rig.target.tick('src0');
    rig.target.tick(DESTINATION_ID);
    rig.collect();
    expect(rig.src0().relationship).toBe('out-of-sync');
  });

  it('held ticks wait for the destination’s next tick, not for a source tick after it went down', () => {
    const rig = new Rig({ sourceTimersOnPeerClock: true });
    rig.write(1, 1, 1);
    rig.dropInFlight();
    for (let i = 0; i < ACK_TIMEOUT_TICKS; i++) rig.target.tick('src0');
    rig.target.crash(DESTINATION_ID);
    rig.target.tick('src0');
    rig.collect();
    // One tick of its own, not the held ones: still within the ack timeout.
    expect(rig.src0().relationship).toBe('in-sync');
    rig.target.restart(DESTINATION_ID);
    rig.target.tick(DESTINATION_ID);
    rig.collect();
    expect(rig.src0().relationship).toBe('out-of-sync');
  });

  it('ticks held for a source that then went down are dropped with it', () => {
    const rig = new Rig({ sourceTimersOnPeerClock: true });
    for (let i = 0; i < 3; i++) rig.target.tick('src0');
    rig.target.crash('src0');
    rig.target.tick(DESTINATION_ID);
    rig.target.restart('src0');
    rig.target.tick(DESTINATION_ID);
    rig.collect();
    expect(rig.src0()).toMatchObject({ up: true, relationship: 'out-of-sync' });
  });
});

describe('requests for a node that is down', () => {
  it('a disk replaced on a node that is down waits for its restart', () => {
    const rig = new Rig();
    committed(rig, 2);
    for (const [node, group] of [
      ['src0', 'primary'],
      [DESTINATION_ID, 'mirror:src0'],
    ] as const) {
      const old = rig.media[node]!.groups[group]![0]!;
      const spare = new Disk({
        id: 'spare',
        blockCount: old.blockCount,
        blockBytes: old.blockBytes,
        power: old.power,
      });
      rig.target.crash(node);
      rig.target.replaceDisk(node, group, 0, spare);
      expect(spare.blocksStored, `${node}`).toBe(0);
      rig.target.restart(node);
    }
  });

  it('an unknown source with the destination down reads as down, not as promoted', () => {
    const rig = new Rig();
    rig.target.crash(DESTINATION_ID);
    expect(rig.target.clientRead('src9', 0)).toEqual({ ok: false, error: 'source src9 is down' });
  });

  it('primary and mirror VBNs are told apart while the mirror lags', () => {
    const rig = new Rig();
    committed(rig, 2);
    rig.write(3, 3, 3);
    rig.deliverAll();
    for (let i = 0; i < CP_INTERVAL_TICKS; i++) rig.target.tick('src0');
    rig.dropInFlight(); // CP 2's CP sync is lost: the mirror stays at CP 1
    const primary = rig.target.liveVbns('src0', 'primary');
    const mirror = rig.target.liveVbns('src0', 'mirror');
    expect(primary).not.toEqual(mirror);
    const only = primary.find((v) => !mirror.includes(v))!;
    expect(rig.target.readVbn('src0', 'primary', only)).not.toEqual(
      rig.target.readVbn('src0', 'mirror', only),
    );
  });

  it('a media record without a source’s node at all is refused by name', () => {
    const spec = smallWorld({ blockBytes: BLOCK_BYTES, lbaCount: LBA_COUNT });
    const { src0: _, ...rest } = makeMedia(spec);
    expect(() => referenceTarget().boot(spec, rest)).toThrow(
      new RangeError("source 'src0' has no NVRAM or primary group"),
    );
  });
});
