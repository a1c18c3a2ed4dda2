// Tests of the destination server: its log-entry intake (an entry whose data does not match the checksum
// the source's NVLOG gave it is neither logged nor acknowledged, even inside an intact frame), who may
// speak for a relationship, CP syncs (applied root last, duplicates confirmed, another base refused),
// the promoted volume (rejects its old source, serves writes, runs its own CPs), restart and disks (a cut
// between a CP sync's root and its log truncation finished at restart), scrub counts, and
// the canaries' deliberate bugs, each shown doing what it says.

import { describe, expect, it } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import { Disk } from '../harness/media/disk.ts';
import { InvariantViolation, PowerLoss } from '../harness/media/errors.ts';
import { toleranceOfLevel } from '../harness/media/geometry.ts';
import { smallWorld } from '../harness/presets.ts';
import { World } from '../harness/world.ts';
import { DestinationServer } from './destination_server.ts';
import { LogFile } from './log_file.ts';
import { assembleRaidGroup } from './raid.ts';
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

describe('a mirror past its RAID tolerance goes offline (rule D5)', () => {
  /** Writes 1..3 logged; the mirror group loses one disk more than its level tolerates. */
  function lost(options: PairOptions = {}): ServerPair {
    const pair = logged(3, options);
    const disks = pair.destinationMedia.groups['mirror:src0']!;
    for (let i = 0; i <= toleranceOfLevel(pair.sourceSpec.mirror.level); i++) disks[i]!.fail();
    pair.tick(10, false);
    return pair;
  }

  it('drops every CP sync unconfirmed, writes nothing, and keeps logging and acknowledging entries', () => {
    const pair = lost();
    const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
    pair.toDestination = [];
    const present = pair.destinationMedia.groups['mirror:src0']!.filter((d) => !d.isFailed);
    const contents = () => present.map((d) => d.storedDbns().map((dbn) => d.read(dbn).data));
    const before = contents();
    expect(sendToDestination(pair, sync)).toEqual([]);
    expect(contents()).toEqual(before);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    // Offline for good: the same CP sync again, and a resync's, are dropped without a RAID attempt.
    expect(sendToDestination(pair, sync)).toEqual([]);
    expect(sendToDestination(pair, { ...sync, cpNumber: 2 } as Message)).toEqual([]);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    // The log file is its own group: it still holds the writes, and takes and acknowledges more.
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(sendToDestination(pair, entry(4, 4, 4))).toEqual([{ kind: 'log-ack', source: 'src0', seq: 4 }]);
  });

  it('the lost-mirror canary confirms the CP sync it could not write', () => {
    const pair = lost({ destination: { unsafeConfirmLostMirror: true } });
    const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
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

describe('CP sync checks, media writes and the canaries’ edges', () => {
  /** The pair with writes 1..3 logged and CP 1 applied at the destination; the sync that made it. */
  function atCp1(options: PairOptions = {}): { pair: ServerPair; sync: Message } {
    const pair = logged(3, options);
    pair.tick(CP_INTERVAL_TICKS, false);
    const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
    pair.toDestination = [];
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    return { pair, sync };
  }

  const powerOf = (pair: ServerPair) => pair.destinationMedia.groups['mirror:src0']![0]!.power;

  it('a duplicate CP sync writes nothing to media, even armed for a cut at the next write', () => {
    const { pair, sync } = atCp1();
    pair.write(4, 4, 4);
    pair.deliverAll();
    const power = powerOf(pair);
    power.armCut(1, false);
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    expect(power.isArmed).toBe(true);
    power.disarm();
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([4]);
  });

  it('the hello floor refuses a newer CP at or below the hello, but confirms again the CP the mirror has', () => {
    const { pair, sync } = atCp1();
    // The source says hello from CP 2 (it committed CP 2; its sync was lost): the mirror says CP 1.
    expect(
      sendToDestination(pair, { kind: 'hello', source: 'src0', lastCommittedCp: 2, helloSeq: 1 }),
    ).toMatchObject([{ kind: 'hello-reply', lastCommittedCp: 1, helloCp: 2 }]);
    // A copy of CP 1, the mirror's own CP: a duplicate, confirmed again whatever the hello said.
    expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    // A CP 2 sync on base 1 sent before that hello: refused, unconfirmed.
    const two = { ...sync, cpNumber: 2, baseCp: 1 } as Message;
    expect(sendToDestination(pair, two)).toEqual([]);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    // A lower hello later does not lower the floor.
    sendToDestination(pair, { kind: 'hello', source: 'src0', lastCommittedCp: 1, helloSeq: 2 });
    expect(sendToDestination(pair, two)).toEqual([]);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
  });

  it('stale CP sync canary: a CP sync numbered 0 is still only confirmed', () => {
    const { pair } = atCp1({ destination: { unsafeApplyStaleCpSync: true } });
    const zero: Message = {
      kind: 'cp-sync',
      source: 'src0',
      cpNumber: 0,
      baseCp: 0,
      coveredSeq: 0,
      resync: false,
      updates: [],
    };
    expect(sendToDestination(pair, zero)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 0 }]);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
  });

  it('stale CP sync canary: its check of the root it applied names what failed', () => {
    const { pair, sync } = atCp1({ destination: { unsafeApplyStaleCpSync: true } });
    pair.write(4, 1, 44);
    pair.deliverAll();
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.destination.mirrorCp('src0')).toBe(2);
    expect(() => pair.destination.receive('src0', sync)).toThrow(
      new InvariantViolation('destination: the applied root is the CP that was sent'),
    );
  });

  it('root first writes each block of the CP sync once, as the reference does, in another order', () => {
    const writes = (options: PairOptions) => {
      const pair = logged(3, options);
      pair.tick(CP_INTERVAL_TICKS, false);
      const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
      const power = powerOf(pair);
      const before = power.writes;
      expect(sendToDestination(pair, sync)).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
      for (let lba = 1; lba <= 3; lba++)
        expect(pair.destination.readCommitted('src0', lba)).toEqual(block(lba));
      return power.writes - before;
    };
    const reference = writes({});
    expect(reference).toBeGreaterThan(0);
    expect(writes({ destination: { unsafeRootFirst: true } })).toBe(reference);
  });
});

describe('apply by DBN: the canary’s edges', () => {
  const syncOf = (updates: { vbn: number; data: Uint8Array }[]): Message => ({
    kind: 'cp-sync',
    source: 'src0',
    cpNumber: 1,
    baseCp: 0,
    coveredSeq: 0,
    resync: false,
    updates,
  });

  it('skips a block whose disk block number lies past the disk’s end, writing nothing', () => {
    const pair0 = new ServerPair();
    // One data disk of depth 1: a VBN's disk block number is the VBN itself, on disk 0.
    const sourceGeometry = { ...pair0.sourceSpec.primary, dataDisks: 1, depthBlocks: 1 };
    const pair = new ServerPair({
      destination: { unsafeApplyByDbn: { sourceGeometry: { src0: sourceGeometry } } },
    });
    const disks = pair.destinationMedia.groups['mirror:src0']!;
    const end = disks[0]!.blockCount;
    const power = disks[0]!.power;
    const before = power.writes;
    expect(sendToDestination(pair, syncOf([{ vbn: end, data: block(9) }]))).toEqual([
      { kind: 'cp-confirm', source: 'src0', cpNumber: 1 },
    ]);
    expect(power.writes).toBe(before);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    // The last block of the disk is written.
    sendToDestination(pair, syncOf([{ vbn: end - 1, data: block(9) }]));
    expect(power.writes).toBe(before + 1);
    expect(disks[0]!.read(end - 1).data).toEqual(block(9));
  });

  it('keeps its old image in memory when the blocks it wrote leave no root to mount', () => {
    const pair0 = new ServerPair();
    // The mirror's own geometry: VBNs 0 and 1, both root slots, land where the mirror keeps them.
    const pair = new ServerPair({
      destination: { unsafeApplyByDbn: { sourceGeometry: { src0: pair0.sourceSpec.mirror } } },
    });
    const garbage = block(0xee);
    expect(
      sendToDestination(
        pair,
        syncOf([
          { vbn: 0, data: garbage },
          { vbn: 1, data: garbage },
        ]),
      ),
    ).toEqual([{ kind: 'cp-confirm', source: 'src0', cpNumber: 1 }]);
    expect(pair.destination.mirrorCp('src0')).toBe(0);
    expect(pair.destination.readCommitted('src0', 1)).toEqual(block(0));
    // A restart finds no root at all.
    expect(() => pair.restartDestination()).toThrow(/no valid root/);
  });
});

describe('the log file, scrub and the stale-lap canary', () => {
  it('formats each log file with the name of its source', () => {
    const pair = logged(1);
    const logGroup = assembleRaidGroup(pair.sourceSpec.logFile, pair.destinationMedia.groups['log:src0']!);
    expect(LogFile.recover(logGroup).source).toBe('src0');
  });

  it('scrub counts the latent errors it repaired in the mirror and the log file, and finds none after', () => {
    const pair = logged(3);
    pair.tick(CP_INTERVAL_TICKS);
    pair.write(4, 4, 4);
    pair.deliverAll();
    expect(pair.destination.scrub()).toBe(0);
    /** `count` latent errors on the group's first disk, each in another stripe (depth 1), none on its label. */
    const plant = (group: string, count: number) => {
      const disk = pair.destinationMedia.groups[group]![0]!;
      const dbns = disk.storedDbns().filter((dbn) => dbn < disk.blockCount - 1);
      expect(dbns.length).toBeGreaterThanOrEqual(count);
      for (const dbn of dbns.slice(0, count)) disk.plantLatentError(dbn);
    };
    plant('mirror:src0', 1);
    plant('log:src0', 2);
    expect(pair.destination.scrub()).toBe(3);
    expect(pair.destination.scrub()).toBe(0);
    expect(pair.destination.readCommitted('src0', 1)).toEqual(block(1));
    expect(pair.destination.logRecords('src0').map((r) => [r.seq, r.data])).toEqual([[4, block(4)]]);
  });

  it('a promoted volume whose log file wrapped restarts with its last writes; the canary replays an earlier lap too', () => {
    const run = (options: PairOptions) => {
      const pair = logged(0, options);
      pair.destination.failover('src0');
      // 127 records fill the log file; the 128th write makes room with a CP and lands in slot 0.
      for (let i = 1; i <= 130; i++) pair.destination.clientWrite('src0', i, i % LBA_COUNT, block(i));
      pair.collect();
      expect(pair.destinationAnswers.every((a) => a.ok)).toBe(true);
      pair.restartDestination();
      return pair;
    };
    const reference = run({});
    expect(reference.destination.logRecords('src0').map((r) => r.seq)).toEqual([128, 129, 130]);
    for (let lba = 0; lba < LBA_COUNT; lba++) {
      const last = lba + LBA_COUNT * Math.floor((130 - lba) / LBA_COUNT);
      expect(reference.destination.clientRead('src0', lba)).toEqual(block(last));
    }
    // The canary takes the records of the earlier lap after seq 130 for seqs 131 and on, and replays them.
    const canary = run({ destination: { unsafeLogTrustsStaleLap: true } });
    expect(canary.destination.logRecords('src0').length).toBeGreaterThan(3);
    expect(canary.destination.clientRead('src0', 2)).toEqual(block(114));
  });
});

describe('a cut between a CP sync’s root and its log truncation', () => {
  /**
   * Writes 1..3 logged, write 4's entry lost on the way: the source resyncs, and its transfer (CP 1 on
   * base 0) covers seq 4, which the log file never received. Returned undelivered.
   */
  function resyncPastTheLog(): { pair: ServerPair; sync: Message } {
    const pair = logged(3);
    pair.write(4, 4, 4);
    pair.dropInFlight();
    for (let t = 0; t < 40; t++) {
      pair.source.tick();
      pair.destination.tick();
      for (let round = 0; round < 20; round++) {
        pair.collect();
        const toDestination = pair.toDestination.splice(0);
        const toSource = pair.toSource.splice(0);
        if (toDestination.length === 0 && toSource.length === 0) break;
        const sync = toDestination.find((m) => m.kind === 'cp-sync');
        if (sync) {
          pair.toDestination = [];
          return { pair, sync };
        }
        for (const m of toDestination) pair.destination.receive('src0', m);
        for (const m of toSource) pair.source.receive(m);
      }
    }
    throw new Error('no CP sync');
  }

  /** Delivers `sync` with a cut at the first media write after which a restart mounts its CP; restarted. */
  function cutAfterRoot(make: () => { pair: ServerPair; sync: Message }): ServerPair {
    for (let k = 1; k < 100; k++) {
      const { pair, sync } = make();
      const power = pair.destinationMedia.groups['mirror:src0']![0]!.power;
      power.armCut(k, false);
      expect(() => pair.destination.receive('src0', sync)).toThrow(PowerLoss);
      power.restore();
      pair.restartDestination();
      if (pair.destination.mirrorCp('src0') === 1) return pair;
    }
    throw new Error('the root never landed');
  }

  it('the transfer covers an entry the log file lacks: the restart moves the log file past what the CP covers', () => {
    const { sync } = resyncPastTheLog();
    expect(sync).toMatchObject({ kind: 'cp-sync', cpNumber: 1, baseCp: 0, coveredSeq: 4, resync: true });
    const pair = cutAfterRoot(resyncPastTheLog);
    expect(pair.destination.logRecords('src0')).toEqual([]);
    // The source's next entry, seq 5, follows on: logged and acknowledged.
    expect(sendToDestination(pair, entry(5, 5, 5))).toEqual([{ kind: 'log-ack', source: 'src0', seq: 5 }]);
  });

  it('a promoted volume restarted there logs its writes: an acknowledged write survives another restart', () => {
    for (let j = 1; ; j++) {
      const pair = cutAfterRoot(resyncPastTheLog);
      // Failover, cut at its j-th media write: the first that leaves the mirror promoted on restart.
      const power = pair.destinationMedia.groups['mirror:src0']![0]!.power;
      power.armCut(j, false);
      expect(() => pair.destination.failover('src0')).toThrow(PowerLoss);
      power.restore();
      pair.restartDestination();
      if (!pair.destination.isPromoted('src0')) continue;
      pair.destination.clientWrite('src0', 99, 7, block(77));
      pair.collect();
      expect(pair.destinationAnswers).toEqual([{ writeId: 99, ok: true }]);
      expect(pair.destination.logRecords('src0').map((r) => [r.seq, r.lba])).toEqual([[5, 7]]);
      pair.restartDestination();
      expect(pair.destination.clientRead('src0', 7)).toEqual(block(77));
      expect(pair.destination.clientRead('src0', 4)).toEqual(block(4));
      return;
    }
  });

  it('a regular CP sync over entries the log file holds: the restart keeps them, for the next CP to truncate', () => {
    const make = () => {
      const pair = logged(3);
      pair.tick(CP_INTERVAL_TICKS, false);
      const sync = pair.toDestination.find((m) => m.kind === 'cp-sync')!;
      pair.toDestination = [];
      return { pair, sync };
    };
    const pair = cutAfterRoot(make);
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([1, 2, 3]);
    // The source's copy of CP 1 is confirmed again; entry 4 follows on.
    expect(sendToDestination(pair, make().sync)).toEqual([
      { kind: 'cp-confirm', source: 'src0', cpNumber: 1 },
    ]);
    expect(sendToDestination(pair, entry(4, 4, 4))).toEqual([{ kind: 'log-ack', source: 'src0', seq: 4 }]);
  });
});
