// Tests of the destination server: its log-entry intake (an entry whose data does not match the checksum
// the source's NVLOG gave it is neither logged nor acknowledged, even inside an intact frame), who may
// speak for a relationship, CP syncs (applied root last, duplicates confirmed, another base refused),
// the promoted volume (rejects its old source, serves writes, runs its own CPs), restart and disks, and
// the canaries' deliberate bugs, each shown doing what it says.

import { describe, expect, it } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import { Disk } from '../harness/media/disk.ts';
import { InvariantViolation, PowerLoss } from '../harness/media/errors.ts';
import { smallWorld } from '../harness/presets.ts';
import { World } from '../harness/world.ts';
import { DestinationServer } from './destination_server.ts';
import { referenceTarget } from './reference_target.ts';
import {
  BLOCK_BYTES,
  block,
  CP_INTERVAL_TICKS,
  LBA_COUNT,
  type PairOptions,
  ServerPair,
} from './server_kit.ts';
import { decodeMessage, encodeMessage, type Message, WireError } from './wire.ts';

function logAcks(world: World): number[] {
  return world.instance
    .drainEffects()
    .flatMap((e) => (e.kind === 'send' ? [decodeMessage(e.bytes)] : []))
    .flatMap((m) => (!(m instanceof WireError) && m.kind === 'log-ack' ? [m.seq] : []));
}

describe('destination log-entry intake', () => {
  it('refuses an entry whose data does not match its NVLOG checksum, and takes the one that does', () => {
    const world = new World({ spec: smallWorld({ mode: 'sync' }), target: referenceTarget(), seed: 1 });
    const data = new Uint8Array(world.spec.blockBytes).fill(7);
    const entry = { kind: 'log-entry', source: 'src0', seq: 1, lba: 3, data } as const;
    world.instance.receive('dst', 'src0', encodeMessage({ ...entry, entrySum: checksum(data) ^ 1 }));
    expect(logAcks(world)).toEqual([]);
    expect(world.instance.logFile('src0')).toEqual([]);
    world.instance.receive('dst', 'src0', encodeMessage({ ...entry, entrySum: checksum(data) }));
    expect(logAcks(world)).toEqual([1]);
    expect(world.instance.logFile('src0').map((r) => [r.seq, r.lba])).toEqual([[1, 3]]);
  });
});

/** The pair with `count` writes logged by the destination (seqs 1.., LBA i, fill i), and no CP yet. */
function logged(count: number, options: PairOptions = {}): ServerPair {
  const pair = new ServerPair(options);
  for (let i = 1; i <= count; i++) {
    pair.write(i, i, i);
    pair.deliverAll();
  }
  return pair;
}

/** Hands the destination one message from `from`; what it sent back. */
function sendToDestination(pair: ServerPair, m: Message, from = 'src0'): Message[] {
  pair.collect();
  const before = pair.sentByDestination.length;
  pair.destination.receive(from, m);
  pair.collect();
  pair.toSource = [];
  return pair.sentByDestination.slice(before);
}

const entry = (seq: number, lba: number, fill: number): Message => ({
  kind: 'log-entry',
  source: 'src0',
  seq,
  lba,
  data: block(fill),
  entrySum: checksum(block(fill)),
});

describe('messages the destination takes, and from whom', () => {
  it('answers a hello with where its mirror and log file stand, echoing the hello', () => {
    const pair = logged(3);
    expect(
      sendToDestination(pair, { kind: 'hello', source: 'src0', lastCommittedCp: 7, helloSeq: 5 }),
    ).toEqual([
      { kind: 'hello-reply', source: 'src0', lastCommittedCp: 0, logHighSeq: 3, helloCp: 7, helloSeq: 5 },
    ]);
  });

  it('ignores a message from another node than the source it names, and one for a source it does not mirror', () => {
    const pair = logged(1);
    expect(sendToDestination(pair, entry(2, 2, 2), 'src1')).toEqual([]);
    expect(sendToDestination(pair, { ...entry(2, 2, 2), source: 'src1' }, 'src1')).toEqual([]);
    expect(
      sendToDestination(pair, { kind: 'hello', source: 'src0', lastCommittedCp: 0, helloSeq: 1 }, 'dst'),
    ).toEqual([]);
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([1]);
    // The same entry from its own source is logged.
    expect(sendToDestination(pair, entry(2, 2, 2))).toEqual([{ kind: 'log-ack', source: 'src0', seq: 2 }]);
  });

  it('acknowledges a duplicate entry again, and neither logs nor acknowledges one after a gap', () => {
    const pair = logged(2);
    expect(sendToDestination(pair, entry(1, 1, 1))).toEqual([{ kind: 'log-ack', source: 'src0', seq: 2 }]);
    expect(sendToDestination(pair, entry(4, 4, 4))).toEqual([]);
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([1, 2]);
  });

  it('ignores what flows the other way', () => {
    const pair = logged(1);
    for (const m of [
      { kind: 'log-ack', source: 'src0', seq: 1 },
      { kind: 'cp-confirm', source: 'src0', cpNumber: 1 },
      { kind: 'hello-reply', source: 'src0', lastCommittedCp: 0, logHighSeq: 0, helloCp: 0, helloSeq: 1 },
      { kind: 'reject', source: 'src0', refused: 'seq', number: 1, permanent: true, reason: 'x' },
    ] as const)
      expect(sendToDestination(pair, m), m.kind).toEqual([]);
  });
});

describe('CP syncs at the destination', () => {
  it('applies a CP sync, truncates the log file to what it covers, and confirms', () => {
    const pair = logged(3);
    pair.tick(10, false);
    const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
    pair.toDestination = [];
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    expect(pair.destination.logRecords('src0')).toEqual([]);
    for (let lba = 1; lba <= 3; lba++)
      expect(pair.destination.readCommitted('src0', lba)).toEqual(block(lba));
    // A copy of it again: confirmed again, the mirror unchanged.
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
  });

  it('refuses, unconfirmed, a CP sync computed against another image than its mirror’s', () => {
    const pair = logged(3);
    pair.tick(10, false);
    const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
    pair.toDestination = [];
    expect(sendToDestination(pair, { ...sync, baseCp: 1 } as Message)).toEqual([]);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([1, 2, 3]);
  });
});

describe('failover: the promoted destination', () => {
  it('rejects its old source’s log entries, CP syncs and hellos, permanently, and applies none', () => {
    const pair = logged(2);
    pair.tick(10, false);
    const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
    pair.toDestination = [];
    pair.destination.failover('src0');
    pair.collect();
    const reject = (refused: 'seq' | 'cp', number: number) => [
      {
        kind: 'reject',
        source: 'src0',
        refused,
        number,
        permanent: true,
        reason: 'the destination was promoted by failover',
      },
    ];
    expect(sendToDestination(pair, entry(3, 3, 3))).toEqual(reject('seq', 3));
    expect(sendToDestination(pair, sync)).toEqual(reject('cp', 1));
    expect(
      sendToDestination(pair, { kind: 'hello', source: 'src0', lastCommittedCp: 4, helloSeq: 9 }),
    ).toEqual(reject('seq', 4));
    expect(sendToDestination(pair, { kind: 'log-ack', source: 'src0', seq: 3 })).toEqual([]);
    // Not applied: the promoted volume holds the replayed writes 1 and 2 only, in its own CP.
    expect(pair.destination.clientRead('src0', 3)).toEqual(block(0));
    expect(pair.destination.clientRead('src0', 2)).toEqual(block(2));
    expect(pair.destination.logRecords('src0')).toEqual([]);
    // Failover again changes nothing.
    const cp = pair.destination.mirrorCp('src0');
    pair.destination.failover('src0');
    expect(pair.destination.mirrorCp('src0')).toBe(cp);
  });

  it('serves writes inside the volume, refuses the rest, and runs its own CPs', () => {
    const pair = logged(1);
    pair.destination.clientWrite('src0', 50, 1, block(50));
    pair.collect();
    expect(pair.destinationAnswers).toEqual([
      { writeId: 50, ok: false, error: "src0's mirror is not promoted" },
    ]);
    // Failover at tick 3: the promoted volume's CP timer counts from there.
    for (let i = 0; i < 3; i++) pair.destination.tick();
    pair.destination.failover('src0');
    const cp = pair.destination.mirrorCp('src0');
    for (const [writeId, lba] of [
      [51, -1],
      [52, LBA_COUNT],
      [53, 2.5],
    ] as const)
      pair.destination.clientWrite('src0', writeId, lba, block(9));
    pair.destination.clientWrite('src0', 54, LBA_COUNT - 1, block(54));
    pair.collect();
    expect(pair.destinationAnswers.slice(1)).toEqual([
      { writeId: 51, ok: false, error: 'LBA -1 outside the volume' },
      { writeId: 52, ok: false, error: `LBA ${LBA_COUNT} outside the volume` },
      { writeId: 53, ok: false, error: 'LBA 2.5 outside the volume' },
      { writeId: 54, ok: true },
    ]);
    expect(pair.destination.clientRead('src0', LBA_COUNT - 1)).toEqual(block(54));
    // Reads outside the volume are refused as the source refuses them: a RangeError, which the
    // reference target answers with an error (rule R2).
    for (const lba of [-1, LBA_COUNT, 2.5])
      expect(() => pair.destination.clientRead('src0', lba)).toThrow(
        new RangeError(`LBA ${lba} outside the volume (0..${LBA_COUNT - 1})`),
      );
    expect(pair.destination.logRecords('src0').map((r) => r.lba)).toEqual([LBA_COUNT - 1]);
    // The promoted volume's CP timer: a CP commits the write and empties the log file.
    for (let i = 0; i < CP_INTERVAL_TICKS - 1; i++) pair.destination.tick();
    expect(pair.destination.mirrorCp('src0')).toBe(cp);
    pair.destination.tick();
    expect(pair.destination.mirrorCp('src0')).toBe(cp + 1);
    expect(pair.destination.readCommitted('src0', LBA_COUNT - 1)).toEqual(block(54));
    expect(pair.destination.logRecords('src0')).toEqual([]);
  });

  it('makes room with a CP when the log file is full, and keeps serving', () => {
    const pair = logged(0);
    pair.destination.failover('src0');
    const cp = pair.destination.mirrorCp('src0');
    // The log file holds 127 records (2 data disks x 128 blocks, each disk's 129th its label: 256 VBNs,
    // two superblock copies, two VBNs a record): the 128th write finds it full.
    for (let i = 1; i <= 130; i++) pair.destination.clientWrite('src0', i, i % LBA_COUNT, block(i & 0xff));
    pair.collect();
    expect(pair.destinationAnswers.every((a) => a.ok)).toBe(true);
    expect(pair.destinationAnswers.length).toBe(130);
    expect(pair.destination.mirrorCp('src0')).toBe(cp + 1);
    expect(pair.destination.logRecords('src0').length).toBe(3);
    expect(pair.destination.clientRead('src0', 130 % LBA_COUNT)).toEqual(block(130));
  });

  it('restarts promoted, its writes since the last CP replayed from the log file', () => {
    const pair = logged(2);
    pair.destination.failover('src0');
    pair.destination.clientWrite('src0', 60, 5, block(60));
    pair.restartDestination();
    expect(pair.destination.isPromoted('src0')).toBe(true);
    expect(pair.destination.clientRead('src0', 5)).toEqual(block(60));
    expect(pair.destination.clientRead('src0', 2)).toEqual(block(2));
    // It still rejects the old source after the restart.
    expect(sendToDestination(pair, entry(3, 3, 3))[0]).toMatchObject({ kind: 'reject', permanent: true });
  });

  it('names what it does not have', () => {
    const pair = logged(0);
    expect(() => pair.destination.mirrorCp('src9')).toThrow("destination mirrors no source 'src9'");
    expect(() =>
      pair.destination.replaceDisk('mirror:src9', 0, pair.destinationMedia.groups['mirror:src0']![0]!),
    ).toThrow("destination has no RAID group 'mirror:src9'");
  });
});

describe('restart and media', () => {
  it('a mirror that is not promoted restarts with its log file kept and not replayed', () => {
    const pair = logged(2);
    pair.restartDestination();
    expect(pair.destination.isPromoted('src0')).toBe(false);
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([1, 2]);
    expect(pair.destination.clientRead('src0', 1)).toEqual(block(0));
  });

  it('replaces a failed disk of the group named, mirror or log file, and rebuilds it', () => {
    const pair = logged(2);
    for (const group of ['log:src0', 'mirror:src0']) {
      const disks = pair.destinationMedia.groups[group]!;
      const others = Object.entries(pair.destinationMedia.groups).filter(([name]) => name !== group);
      const before = others.map(([, d]) => [...d]);
      disks[1]!.fail();
      const spare = new Disk({
        id: `${group}.spare`,
        blockCount: disks[1]!.blockCount,
        blockBytes: BLOCK_BYTES,
      });
      pair.destination.replaceDisk(group, 1, spare);
      expect(disks[1]).toBe(spare);
      expect(others.map(([, d]) => [...d])).toEqual(before);
    }
    // Rebuilt: with another disk of each group lost, both still read back whole.
    pair.destinationMedia.groups['log:src0']![0]!.fail();
    pair.destinationMedia.groups['mirror:src0']![0]!.fail();
    pair.restartDestination();
    expect(pair.destination.logRecords('src0').map((r) => [r.seq, r.data])).toEqual([
      [1, block(1)],
      [2, block(2)],
    ]);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
  });

  it('a cut at every media write of a rebuild, mirror or log file, torn or whole: the restart finishes it', () => {
    /** Writes 1..3 in the mirror's CP 1, writes 4 and 5 only in the log file. */
    function prepared(): ServerPair {
      const pair = logged(3);
      pair.tick(CP_INTERVAL_TICKS);
      for (let i = 4; i <= 5; i++) {
        pair.write(i, i, i);
        pair.deliverAll();
      }
      expect(pair.destination.mirrorCp('src0')).toBe(1);
      return pair;
    }
    const whole = (pair: ServerPair) => {
      expect(pair.destination.mirrorCp('src0')).toBe(1);
      for (let lba = 0; lba < LBA_COUNT; lba++)
        expect(pair.destination.readCommitted('src0', lba)).toEqual(block(lba >= 1 && lba <= 3 ? lba : 0));
      expect(pair.destination.logRecords('src0').map((r) => [r.seq, r.data])).toEqual([
        [4, block(4)],
        [5, block(5)],
      ]);
    };
    for (const group of ['mirror:src0', 'log:src0'])
      for (const torn of [false, true]) {
        let cuts = 0;
        for (let k = 1; ; k++) {
          const pair = prepared();
          const disks = pair.destinationMedia.groups[group]!;
          const power = disks[0]!.power;
          disks[0]!.fail();
          const spare = new Disk({
            id: `${group}.spare`,
            blockCount: disks[0]!.blockCount,
            blockBytes: BLOCK_BYTES,
            power,
          });
          disks[0] = spare;
          power.armCut(k, torn);
          try {
            pair.destination.replaceDisk(group, 0, spare);
          } catch (e) {
            if (!(e instanceof PowerLoss)) throw e;
          }
          if (power.isArmed) {
            // The rebuild took fewer than k writes: every cut inside it was tried.
            power.disarm();
            break;
          }
          cuts++;
          power.restore();
          pair.restartDestination();
          whole(pair);
          // The spare holds its blocks: with another disk of the group lost, all still reads back.
          disks[1]!.fail();
          pair.restartDestination();
          whole(pair);
        }
        expect(cuts, `${group}: cuts inside the rebuild`).toBeGreaterThan(2);
      }
  });

  it('refuses media without the groups of a source it mirrors', () => {
    const pair = new ServerPair();
    const { 'log:src0': _log, ...mirrorOnly } = pair.destinationMedia.groups;
    expect(() => DestinationServer.format(pair.destinationConfig, { groups: mirrorOnly })).toThrow(
      new RangeError("destination media lack the groups of source 'src0'"),
    );
    const { 'mirror:src0': _mirror, ...logOnly } = pair.destinationMedia.groups;
    expect(() => DestinationServer.recover(pair.destinationConfig, { groups: logOnly })).toThrow(RangeError);
  });
});

describe('the canaries’ destinations really do what their bug says', () => {
  /** The pair with writes 1..3 logged and CP 1's sync in flight to the destination. */
  function cpSyncInFlight(options: PairOptions): { pair: ServerPair; sync: Message } {
    const pair = logged(3, options);
    // The source's CP timer only: the destination's clock stays at 0.
    for (let i = 0; i < CP_INTERVAL_TICKS; i++) pair.source.tick();
    pair.collect();
    const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
    pair.toDestination = [];
    return { pair, sync };
  }

  /** Delivers `sync` with a power cut right after the destination's first media write; then restarts it. */
  function cutAfterFirstWrite(pair: ServerPair, sync: Message): void {
    const power = pair.destinationMedia.groups['mirror:src0']![0]!.power;
    power.armCut(1, false);
    expect(() => pair.destination.receive('src0', sync)).toThrow(PowerLoss);
    power.restore();
    pair.restartDestination();
  }

  it('reference: a cut after the first media write of a CP sync leaves the mirror at CP 0 and the log whole', () => {
    const { pair, sync } = cpSyncInFlight({});
    cutAfterFirstWrite(pair, sync);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it('root first: the same cut leaves a root pointing at blocks never written; uncut, the mirror is whole', () => {
    const { pair, sync } = cpSyncInFlight({ destination: { unsafeRootFirst: true } });
    cutAfterFirstWrite(pair, sync);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    expect(pair.destination.readCommitted('src0', 1)).not.toEqual(block(1));
    const uncut = cpSyncInFlight({ destination: { unsafeRootFirst: true } });
    sendToDestination(uncut.pair, uncut.sync);
    for (let lba = 1; lba <= 3; lba++)
      expect(uncut.pair.destination.readCommitted('src0', lba)).toEqual(block(lba));
  });

  it('log truncated early: the same cut leaves the mirror at CP 0 and the log file without the writes', () => {
    const { pair, sync } = cpSyncInFlight({ destination: { unsafeTruncateLogEarly: true } });
    cutAfterFirstWrite(pair, sync);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    expect(pair.destination.logRecords('src0')).toEqual([]);
  });

  it('failover without replay: the promoted volume lacks what only the log file held', () => {
    const pair = logged(2, { destination: { unsafeFailoverWithoutReplay: true } });
    pair.destination.failover('src0');
    expect(pair.destination.clientRead('src0', 1)).toEqual(block(0));
    expect(pair.destination.clientRead('src0', 2)).toEqual(block(0));
  });

  it('store and forward: a CP sync is confirmed unapplied; the mirror applies its log file on its own timer', () => {
    const { pair, sync } = cpSyncInFlight({ destination: { unsafeStoreAndForward: true } });
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    for (let i = 0; i < CP_INTERVAL_TICKS - 1; i++) pair.destination.tick();
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    pair.destination.tick();
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    for (let lba = 1; lba <= 3; lba++)
      expect(pair.destination.readCommitted('src0', lba)).toEqual(block(lba));
    // With nothing new in the log file the next CP writes no data block again.
    const data = (vbns: number[]) => vbns.filter((v) => v > 1);
    const live = data(pair.destination.liveVbns('src0'));
    for (let i = 0; i < CP_INTERVAL_TICKS; i++) pair.destination.tick();
    expect(pair.destination.mirrorCp('src0')).toBe(2);
    expect(data(pair.destination.liveVbns('src0'))).toEqual(live);
  });

  it('apply by DBN: each block lands where the source’s geometry puts its VBN, bypassing the mirror’s RAID', () => {
    const pair0 = new ServerPair();
    // A source geometry of 2 data disks and depth 2 for the canary's arithmetic: stripes of 4 VBNs.
    const sourceGeometry = { ...pair0.sourceSpec.primary, dataDisks: 2, depthBlocks: 2 };
    const { pair, sync } = cpSyncInFlight({
      destination: { unsafeApplyByDbn: { sourceGeometry: { src0: sourceGeometry } } },
    });
    sendToDestination(pair, sync);
    const disks = pair.destinationMedia.groups['mirror:src0']!;
    const updates = (sync as Extract<Message, { kind: 'cp-sync' }>).updates;
    for (const u of updates) {
      const stripe = Math.floor(u.vbn / 4);
      const disk = Math.floor((u.vbn % 4) / 2);
      const dbn = 2 * stripe + (u.vbn % 2);
      expect(disks[disk]!.read(dbn).data, `VBN ${u.vbn}`).toEqual(u.data);
    }
    expect(updates.some((u) => u.vbn >= 4)).toBe(true);
    // The mirror's own RAID layout differs: it does not hold CP 1's image, whatever root it mounted.
    expect([0, 1]).toContain(pair.destination.mirrorCp('src0'));
    const wrong = [1, 2, 3].filter((lba) => {
      try {
        return !pair.destination.readCommitted('src0', lba).every((b, i) => b === block(lba)[i]);
      } catch {
        return true;
      }
    });
    expect(wrong.length).toBeGreaterThan(0);
  });

  it('stale CP sync applied: a copy of CP 1 that arrives after CP 2 is applied again', () => {
    const options = { destination: { unsafeApplyStaleCpSync: true } };
    const { pair, sync } = cpSyncInFlight(options);
    sendToDestination(pair, sync);
    pair.write(4, 1, 44);
    pair.deliverAll();
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.destination.mirrorCp('src0')).toBe(2);
    // The reference confirms the stale copy and leaves the mirror alone; the canary rewrites CP 1's
    // blocks and root under CP 2, and its check that the root it applied is the one sent fails.
    expect(() => pair.destination.receive('src0', sync)).toThrow(InvariantViolation);
    const reference = cpSyncInFlight({});
    sendToDestination(reference.pair, reference.sync);
    reference.pair.write(4, 1, 44);
    reference.pair.deliverAll();
    reference.pair.tick(CP_INTERVAL_TICKS);
    expect(sendToDestination(reference.pair, reference.sync)).toEqual([
      { kind: 'cp-confirm', source: 'src0', cpNumber: 1 },
    ]);
    expect(reference.pair.destination.mirrorCp('src0')).toBe(2);
    expect(reference.pair.destination.readCommitted('src0', 1)).toEqual(block(44));
  });

  it('a CP sync sent before a hello that arrives after its reply is refused: the reply said where the mirror stays', () => {
    const { pair, sync } = cpSyncInFlight({});
    // The source timed out on CP 1 and says hello from CP 1; the mirror is at CP 0 and says so.
    const hello: Message = { kind: 'hello', source: 'src0', lastCommittedCp: 1, helloSeq: 1 };
    expect(sendToDestination(pair, hello)).toMatchObject([{ kind: 'hello-reply', lastCommittedCp: 0 }]);
    // The delayed CP 1 (base 0) now arrives: applying it would move the mirror off CP 0, the image the
    // source plans its resync from. Refused, unconfirmed.
    expect(sendToDestination(pair, sync)).toEqual([]);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    // Without the hello it is applied and confirmed.
    const fresh = cpSyncInFlight({});
    expect(sendToDestination(fresh.pair, fresh.sync)).toEqual([
      { kind: 'cp-confirm', source: 'src0', cpNumber: 1 },
    ]);
    expect(fresh.pair.destination.mirrorCp('src0')).toBe(1);
  });
});
