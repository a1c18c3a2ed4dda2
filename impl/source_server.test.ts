// Tests of the source server on its own and with the destination (impl/server_kit.ts): client requests
// and their LBA range, acknowledgements per mode (the semi-sync lag bound), misrouted messages, fencing
// by a promoted destination, the resync transfer that never lands on the mirror's committed root slot,
// timeouts, back-pressure and restart (a rebuild a power cut interrupts included).

import { describe, expect, it } from 'vitest';
import { Disk } from '../harness/media/disk.ts';
import { PowerLoss } from '../harness/media/errors.ts';
import { disksFor } from '../harness/media/geometry.ts';
import { Nvram } from '../harness/media/nvram.ts';
import { Power } from '../harness/media/power.ts';
import { smallWorld } from '../harness/presets.ts';
import {
  ACK_TIMEOUT_TICKS,
  block,
  CP_INTERVAL_TICKS,
  LBA_COUNT,
  SEMI_SYNC_MAX_LAG_ENTRIES,
  ServerPair,
} from './server_kit.ts';
import { type SourceConfig, SourceServer } from './source_server.ts';
import type { CpSyncMessage, Message } from './wire.ts';

/** The pair, in sync, after `count` writes acknowledged (writeIds 1.., LBA i % 16, fill i). */
function afterWrites(pair: ServerPair, count: number): void {
  for (let i = 1; i <= count; i++) {
    pair.write(i, i % LBA_COUNT, i);
    pair.deliverAll();
  }
}

/** Out of sync: a write's log entry is lost and the source times out waiting for its ack. */
function loseTheLink(pair: ServerPair, writeId: number): void {
  pair.write(writeId, 0, writeId);
  pair.dropInFlight();
  for (let i = 0; i < 20 && pair.source.relationshipState === 'in-sync'; i++) pair.tick(1, false);
  expect(pair.source.relationshipState).toBe('out-of-sync');
  pair.dropInFlight();
}

function cpSyncs(messages: readonly Message[]): CpSyncMessage[] {
  return messages.filter((m): m is CpSyncMessage => m.kind === 'cp-sync');
}

describe('client requests', () => {
  it('refuses writes and reads outside the volume, naming the range', () => {
    const pair = new ServerPair();
    for (const [writeId, lba] of [
      [1, -1],
      [2, LBA_COUNT],
      [3, 1.5],
    ] as const) {
      pair.write(writeId, lba, 9);
      expect(pair.answersTo(writeId)).toEqual([
        { writeId, ok: false, error: `LBA ${lba} outside the volume (0..${LBA_COUNT - 1})` },
      ]);
    }
    expect(pair.sentBySource).toEqual([]);
    expect(pair.source.pendingWrites).toBe(0);
    for (const lba of [-1, LBA_COUNT, 0.5])
      expect(() => pair.source.clientRead(lba)).toThrow(
        new RangeError(`LBA ${lba} outside the volume (0..${LBA_COUNT - 1})`),
      );
    // The last LBA is inside.
    pair.write(4, LBA_COUNT - 1, 4);
    expect(pair.source.clientRead(LBA_COUNT - 1)).toEqual(block(4));
    expect(pair.source.clientRead(0)).toEqual(block(0));
  });
});

describe('acknowledgements', () => {
  it('sync: a write is acknowledged only once the destination logged it', () => {
    const pair = new ServerPair();
    pair.write(1, 3, 1);
    expect(pair.answersTo(1)).toEqual([]);
    expect(pair.source.pendingWrites).toBe(1);
    pair.deliverAll();
    expect(pair.answersTo(1)).toEqual([{ writeId: 1, ok: true }]);
    expect(pair.source.pendingWrites).toBe(0);
  });

  it('semi-sync: up to the lag bound acknowledged at once, counted from the last log-ack', () => {
    const pair = new ServerPair({ mode: 'semi-sync' });
    const answered = () => pair.sourceAnswers.map((a) => a.writeId);
    // Nothing acknowledged by the destination yet: the first 4 go at once, the 5th waits.
    for (let i = 1; i <= SEMI_SYNC_MAX_LAG_ENTRIES + 1; i++) pair.write(i, i, i);
    expect(answered()).toEqual([1, 2, 3, 4]);
    pair.deliverAll();
    expect(answered()).toEqual([1, 2, 3, 4, 5]);
    // The destination has acknowledged seq 5: 4 more lag again, and the 5th of them waits.
    for (let i = 6; i <= 10; i++) pair.write(i, i, i);
    expect(answered()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    pair.deliverAll();
    expect(answered()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(pair.sourceAnswers.every((a) => a.ok)).toBe(true);
  });

  it('ignores a log-ack for another source, and acknowledgements beyond what was sent', () => {
    const pair = new ServerPair();
    pair.write(1, 3, 1);
    pair.source.receive({ kind: 'log-ack', source: 'src1', seq: 1 });
    pair.collect();
    expect(pair.answersTo(1)).toEqual([]);
    // An ack for seq 2 (never sent) acknowledges seq 1 and no more: write 2 still waits for its own.
    pair.source.receive({ kind: 'log-ack', source: 'src0', seq: 2 });
    pair.write(2, 4, 2);
    pair.collect();
    expect(pair.answersTo(1)).toEqual([{ writeId: 1, ok: true }]);
    expect(pair.answersTo(2)).toEqual([]);
    // Write 2's own ack still counts.
    pair.deliverAll();
    expect(pair.answersTo(2)).toEqual([{ writeId: 2, ok: true }]);
  });

  it('an ack that arrives before any write acknowledges nothing to come', () => {
    const pair = new ServerPair();
    pair.source.receive({ kind: 'log-ack', source: 'src0', seq: 1 });
    pair.write(1, 1, 1);
    expect(pair.answersTo(1)).toEqual([]);
    pair.deliverAll();
    expect(pair.answersTo(1)).toEqual([{ writeId: 1, ok: true }]);
  });

  it('an NVLOG half holds nvlogHalfEntries: the write after them starts a CP', () => {
    const pair = new ServerPair({ source: { nvlogHalfEntries: 2 } });
    pair.write(1, 1, 1);
    pair.write(2, 2, 2);
    expect(pair.source.cpInProgress).toBe(false);
    pair.write(3, 3, 3);
    expect(pair.source.cpInProgress).toBe(true);
    // Without it, a half holds what its NVRAM fits: 4 entries here.
    const roomy = new ServerPair({ source: { nvlogHalfEntries: undefined } });
    for (let i = 1; i <= 4; i++) roomy.write(i, i, i);
    expect(roomy.source.cpInProgress).toBe(false);
    roomy.write(5, 5, 5);
    expect(roomy.source.cpInProgress).toBe(true);
  });

  it('a CP’s image holds every write logged before it, the last one included', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.source.committedCp).toBe(1);
    expect(pair.source.readCommitted(1)).toEqual(block(1));
    expect(pair.source.readCommitted(2)).toEqual(block(2));
    expect(pair.destination.readCommitted('src0', 2)).toEqual(block(2));
  });
});

describe('fencing: a promoted destination rejects its old source', () => {
  it('a permanent reject fails every waiting and stalled write and refuses new ones', () => {
    const pair = new ServerPair();
    pair.write(1, 1, 1);
    pair.write(2, 2, 2);
    const cp = pair.source.committedCp;
    // A transient reject, or one for another source, changes nothing.
    pair.source.receive({
      kind: 'reject',
      source: 'src0',
      refused: 'seq',
      number: 1,
      permanent: false,
      reason: 'r',
    });
    pair.source.receive({
      kind: 'reject',
      source: 'src1',
      refused: 'seq',
      number: 1,
      permanent: true,
      reason: 'r',
    });
    expect(pair.source.relationshipState).toBe('in-sync');
    pair.source.receive({
      kind: 'reject',
      source: 'src0',
      refused: 'seq',
      number: 1,
      permanent: true,
      reason: 'promoted',
    });
    pair.collect();
    expect(pair.source.relationshipState).toBe('failed-over');
    expect(pair.sourceAnswers).toEqual([
      { writeId: 1, ok: false, error: 'failed over: promoted' },
      { writeId: 2, ok: false, error: 'failed over: promoted' },
    ]);
    expect(pair.source.pendingWrites).toBe(0);
    expect(pair.source.cpInProgress).toBe(false);
    pair.write(3, 3, 3);
    expect(pair.answersTo(3)).toEqual([
      {
        writeId: 3,
        ok: false,
        error: 'the relationship was failed over: this source no longer serves the volume',
      },
    ]);
    // A fenced source sends nothing more and runs no CP, however long it waits; write 3 was answered once.
    const sent = pair.sentBySource.length;
    pair.tick(30, false);
    expect(pair.sentBySource.length).toBe(sent);
    expect(pair.answersTo(3).length).toBe(1);
    expect(pair.source.pendingWrites).toBe(0);
    expect(pair.source.committedCp).toBe(cp);
    expect(pair.source.relationshipState).toBe('failed-over');
  });

  it('stalled writes fail too', () => {
    const pair = new ServerPair();
    // Both NVLOG halves full (4 entries each), the CP sync unconfirmed: later writes stall.
    for (let i = 1; i <= 10; i++) pair.write(i, i, i);
    expect(pair.source.pendingWrites).toBe(10);
    pair.source.receive({
      kind: 'reject',
      source: 'src0',
      refused: 'cp',
      number: 1,
      permanent: true,
      reason: 'x',
    });
    pair.collect();
    expect(pair.sourceAnswers).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ writeId: i + 1, ok: false, error: 'failed over: x' })),
    );
    expect(pair.source.pendingWrites).toBe(0);
  });

  it('end to end: after a failover the old source is fenced at its next hello, and the mirror kept', () => {
    const pair = new ServerPair();
    afterWrites(pair, 3);
    loseTheLink(pair, 4);
    // The operator fails over while the source is cut off; the promoted volume holds every write
    // acknowledged in sync, not write 4, whose log entry never arrived.
    pair.destination.failover('src0');
    expect(pair.destination.isPromoted('src0')).toBe(true);
    for (let i = 1; i <= 3; i++) expect(pair.destination.clientRead('src0', i)).toEqual(block(i));
    expect(pair.destination.clientRead('src0', 0)).toEqual(block(0));
    // The link is back: the source's hello is answered with a permanent reject.
    pair.tick(5);
    expect(pair.sentByDestination.filter((m) => m.kind === 'hello-reply')).toEqual([]);
    expect(pair.sentByDestination.at(-1)).toMatchObject({ kind: 'reject', source: 'src0', permanent: true });
    expect(pair.source.relationshipState).toBe('failed-over');
    pair.write(5, 1, 55);
    expect(pair.answersTo(5)[0]?.ok).toBe(false);
    // Nothing the old source did reached the promoted volume.
    expect(pair.destination.clientRead('src0', 1)).toEqual(block(1));
    expect(cpSyncs(pair.sentBySource).filter((m) => m.resync)).toEqual([]);
  });
});

describe('resync', () => {
  /** The transfer the source sends after the hello-reply, once the link is back. */
  function transfer(pair: ServerPair): CpSyncMessage {
    pair.tick(5);
    const resyncs = cpSyncs(pair.sentBySource).filter((m) => m.resync);
    expect(resyncs.length).toBe(1);
    return resyncs[0]!;
  }

  function expectInSyncAndEqual(pair: ServerPair): void {
    expect(pair.source.relationshipState).toBe('in-sync');
    expect(pair.destination.mirrorCp('src0')).toBe(pair.source.committedCp);
    for (let lba = 0; lba < LBA_COUNT; lba++)
      expect(pair.destination.readCommitted('src0', lba)).toEqual(pair.source.readCommitted(lba));
  }

  it('mirror at the source’s CP: the transfer’s CP number has the other parity, and only changes are sent', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    pair.tick(10);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    loseTheLink(pair, 3);
    const t = transfer(pair);
    expect(t.baseCp).toBe(1);
    expect((t.cpNumber - t.baseCp) % 2).toBe(1);
    // Incremental: write 3's block, its map block and the root, not the whole image (5 blocks).
    expect(t.updates.length).toBe(3);
    expect(pair.source.liveVbns().length).toBe(5);
    expectInSyncAndEqual(pair);
    // A reply to the same hello, arriving again in sync, starts no second transfer.
    const reply = pair.sentByDestination.filter((m) => m.kind === 'hello-reply').at(-1)!;
    pair.source.receive(reply);
    pair.collect();
    expect(cpSyncs(pair.sentBySource).filter((m) => m.resync).length).toBe(1);
    expect(pair.source.relationshipState).toBe('in-sync');
  });

  it('after a restart, the mirror one CP behind (the recovery CP) still gets only the changes', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    pair.tick(10);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    // The restarted source commits a recovery CP and keeps the mirror's CP 1 as the resync's base.
    pair.restartSource();
    expect(pair.source.committedCp).toBe(2);
    // A write lands before the hello is answered; the resync ships it on top of the mirror's CP 1:
    // its block, its map block and the root, not the whole image (5 blocks).
    pair.write(3, 3, 3);
    const t = transfer(pair);
    expect(t.baseCp).toBe(1);
    expect((t.cpNumber - t.baseCp) % 2).toBe(1);
    expect(t.updates.length).toBe(3);
    expect(pair.source.liveVbns().length).toBe(5);
    expectInSyncAndEqual(pair);
  });

  it('a transfer whose confirm is lost stays pinned: the next resync starts from it, incrementally', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    pair.tick(10);
    loseTheLink(pair, 3);
    // The link is back for the hello, its reply and the transfer; the confirm is lost.
    pair.tick(1, false);
    for (let i = 0; i < 10 && !pair.sentBySource.some((m) => m.kind === 'cp-sync' && m.resync); i++) {
      pair.collect();
      const toDestination = pair.toDestination.splice(0);
      const toSource = pair.toSource.splice(0);
      for (const m of toDestination) pair.destination.receive('src0', m);
      for (const m of toSource) pair.source.receive(m);
      pair.collect();
      if (!pair.sentBySource.some((m) => m.kind === 'cp-sync' && m.resync)) pair.tick(1, false);
    }
    const first = cpSyncs(pair.toDestination).find((m) => m.resync)!;
    pair.toDestination = [];
    pair.destination.receive('src0', first);
    pair.collect();
    pair.toSource = [];
    expect(pair.destination.mirrorCp('src0')).toBe(first.cpNumber);
    // The source times out waiting, runs a local CP while the link is down, and resyncs from the
    // mirror's new CP: no longer its current image, but pinned with the transfer.
    pair.tick(ACK_TIMEOUT_TICKS, false);
    pair.dropInFlight();
    expect(pair.source.relationshipState).toBe('out-of-sync');
    pair.write(4, 4, 4);
    pair.tick(CP_INTERVAL_TICKS, false);
    pair.dropInFlight();
    expect(pair.source.committedCp).toBeGreaterThan(first.cpNumber);
    pair.tick(5);
    const t = cpSyncs(pair.sentBySource)
      .filter((m) => m.resync)
      .at(-1)!;
    expect(t).not.toBe(first);
    expect(t.baseCp).toBe(first.cpNumber);
    expect(t.updates.length).toBeLessThan(pair.source.liveVbns().length);
    expectInSyncAndEqual(pair);
  });

  it('a mirror new to the volume gets every live block', () => {
    const pair = new ServerPair();
    afterWrites(pair, 3);
    pair.tick(10);
    afterWrites(pair, 2);
    pair.tick(10);
    expect(pair.source.committedCp).toBe(2);
    // The destination is replaced by a freshly formatted one: its mirror holds CP 0 of nothing.
    pair.destination = new ServerPair().destination;
    loseTheLink(pair, 6);
    const t = transfer(pair);
    expect(t.baseCp).toBe(0);
    expect(t.updates.map((u) => u.vbn).sort((a, b) => a - b)).toEqual(pair.source.liveVbns());
    expectInSyncAndEqual(pair);
  });

  it('mirror one CP behind: one local CP suffices, the parities already differ', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    // The CP sync of CP 1 is lost: the mirror stays at CP 0, the source committed CP 1.
    pair.tick(9);
    pair.source.tick();
    pair.dropInFlight();
    expect(pair.source.committedCp).toBe(1);
    loseTheLink(pair, 3);
    const t = transfer(pair);
    expect(t.baseCp).toBe(0);
    expect((t.cpNumber - t.baseCp) % 2).toBe(1);
    expectInSyncAndEqual(pair);
  });

  it('after out-of-sync CPs, whatever their number, the transfer never shares the mirror’s parity', () => {
    for (const extraCps of [0, 1, 2, 3]) {
      const pair = new ServerPair();
      afterWrites(pair, 2);
      pair.tick(10);
      loseTheLink(pair, 3);
      // Local CPs while out of sync; hellos unanswered (the link is still down).
      for (let i = 0; i < extraCps; i++) {
        pair.write(10 + i, 5, 10 + i);
        pair.tick(10, false);
        pair.dropInFlight();
      }
      const t = transfer(pair);
      expect((t.cpNumber - t.baseCp) % 2, `${extraCps} local CPs`).toBe(1);
      expectInSyncAndEqual(pair);
    }
  });

  it('mirror already equal and nothing dirty: back in sync with no transfer', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    pair.tick(10);
    pair.source.tick();
    // Out of sync with nothing in flight: a CP confirm lost would do it; here a timeout on a lost hello.
    pair.write(3, 1, 1);
    pair.dropInFlight();
    pair.tick(4, false);
    pair.dropInFlight();
    expect(pair.source.relationshipState).toBe('out-of-sync');
    pair.tick(10, false);
    pair.dropInFlight();
    pair.tick(5);
    expect(pair.source.relationshipState).toBe('in-sync');
    expectInSyncAndEqual(pair);
  });
});

describe('out of sync, strict-sync and back-pressure', () => {
  it('strict-sync: a write waiting when the link is lost fails, and later writes are refused', () => {
    const pair = new ServerPair({ mode: 'strict-sync' });
    afterWrites(pair, 1);
    pair.write(2, 2, 2);
    pair.dropInFlight();
    pair.tick(ACK_TIMEOUT_TICKS, false);
    expect(pair.source.relationshipState).toBe('out-of-sync');
    expect(pair.answersTo(2)).toEqual([
      { writeId: 2, ok: false, error: 'strict-sync: destination unreachable before the write was mirrored' },
    ]);
    pair.write(3, 3, 3);
    expect(pair.answersTo(3)).toEqual([
      { writeId: 3, ok: false, error: 'strict-sync: relationship is out-of-sync, write refused' },
    ]);
  });

  it('sync: out of sync, writes are acknowledged once in the NVLOG, and a waiting one then too', () => {
    const pair = new ServerPair();
    pair.write(1, 1, 1);
    pair.dropInFlight();
    pair.tick(ACK_TIMEOUT_TICKS - 1, false);
    expect(pair.source.relationshipState).toBe('in-sync');
    expect(pair.answersTo(1)).toEqual([]);
    pair.tick(1, false);
    expect(pair.source.relationshipState).toBe('out-of-sync');
    expect(pair.answersTo(1)).toEqual([{ writeId: 1, ok: true }]);
    // A hello went out at once, and again every ackTimeoutTicks while unanswered.
    expect(pair.lastSentBySource('hello')).toMatchObject({ kind: 'hello', helloSeq: 1 });
    pair.write(2, 2, 2);
    expect(pair.answersTo(2)).toEqual([{ writeId: 2, ok: true }]);
    expect(pair.sentBySource.filter((m) => m.kind === 'log-entry').length).toBe(1);
    pair.tick(ACK_TIMEOUT_TICKS - 1, false);
    expect(pair.sentBySource.filter((m) => m.kind === 'hello').length).toBe(1);
    pair.tick(1, false);
    expect(pair.sentBySource.filter((m) => m.kind === 'hello').length).toBe(2);
    expect(pair.source.clientRead(2)).toEqual(block(2));
  });

  it('times out from the oldest request unanswered: a CP sync awaited before a later log entry', () => {
    const pair = new ServerPair();
    afterWrites(pair, 1);
    pair.tick(CP_INTERVAL_TICKS - 1);
    pair.source.tick();
    pair.dropInFlight(); // the CP sync is lost
    pair.tick(2, false);
    pair.write(2, 2, 2);
    pair.dropInFlight(); // and so is the later log entry
    pair.tick(ACK_TIMEOUT_TICKS - 3, false);
    expect(pair.source.relationshipState).toBe('in-sync');
    pair.tick(1, false);
    expect(pair.source.relationshipState).toBe('out-of-sync');
  });

  it('times out a CP sync the destination never confirms', () => {
    const pair = new ServerPair();
    afterWrites(pair, 1);
    pair.tick(CP_INTERVAL_TICKS - 1);
    pair.source.tick();
    pair.dropInFlight();
    expect(pair.source.cpInProgress).toBe(true);
    pair.tick(ACK_TIMEOUT_TICKS - 1, false);
    expect(pair.source.relationshipState).toBe('in-sync');
    pair.tick(1, false);
    expect(pair.source.relationshipState).toBe('out-of-sync');
    expect(pair.source.cpInProgress).toBe(false);
  });

  it('stalls writes while both NVLOG halves are busy, and drains them in order once the CP is confirmed', () => {
    const pair = new ServerPair();
    // Half 0 fills (4), the 5th starts CP 1 and fills half 1; the 9th and 10th stall.
    for (let i = 1; i <= 10; i++) pair.write(i, i, i);
    expect(pair.source.pendingWrites).toBe(10);
    expect(pair.source.cpInProgress).toBe(true);
    pair.deliverAll();
    expect(pair.sourceAnswers.map((a) => a.writeId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(pair.sourceAnswers.every((a) => a.ok)).toBe(true);
    for (let lba = 1; lba <= 10; lba++) expect(pair.source.clientRead(lba)).toEqual(block(lba));
    // A later write queues behind stalled ones, never ahead of them.
    for (let i = 11; i <= 20; i++) pair.write(i, 1, i);
    pair.deliverAll();
    expect(pair.source.clientRead(1)).toEqual(block(20));
  });

  it('ignores a confirm for another CP, and a hello-reply to an earlier hello', () => {
    const pair = new ServerPair();
    afterWrites(pair, 1);
    for (let i = 0; i < CP_INTERVAL_TICKS; i++) pair.source.tick();
    pair.dropInFlight();
    pair.source.receive({ kind: 'cp-confirm', source: 'src0', cpNumber: 2 });
    expect(pair.source.cpInProgress).toBe(true);
    pair.source.receive({ kind: 'cp-confirm', source: 'src0', cpNumber: 1 });
    expect(pair.source.cpInProgress).toBe(false);
    // Out of sync: hello 1 sent; a reply to another hello (seq or CP) is not acted on.
    loseTheLink(pair, 2);
    const hello = pair.lastSentBySource('hello') as Extract<Message, { kind: 'hello' }>;
    const reply = {
      kind: 'hello-reply',
      source: 'src0',
      lastCommittedCp: 1,
      logHighSeq: 1,
      helloCp: hello.lastCommittedCp,
      helloSeq: hello.helloSeq,
    } as const;
    pair.source.receive({ ...reply, helloSeq: hello.helloSeq + 1 });
    pair.source.receive({ ...reply, helloCp: hello.lastCommittedCp + 1 });
    pair.source.receive({ ...reply, source: 'src1' });
    expect(pair.source.relationshipState).toBe('out-of-sync');
    pair.source.receive(reply);
    expect(pair.source.relationshipState).toBe('resyncing');
    // In resync already: another reply changes nothing.
    pair.collect();
    const sent = pair.sentBySource.length;
    pair.source.receive(reply);
    pair.collect();
    expect(pair.sentBySource.length).toBe(sent);
  });
});

describe('restart', () => {
  it('replays the NVLOG into a recovery CP, starts out of sync, and says hello from its new CP', () => {
    const pair = new ServerPair();
    afterWrites(pair, 3);
    pair.restartSource();
    expect(pair.source.relationshipState).toBe('out-of-sync');
    expect(pair.source.committedCp).toBe(1);
    for (let lba = 1; lba <= 3; lba++) expect(pair.source.readCommitted(lba)).toEqual(block(lba));
    expect(pair.lastSentBySource('hello')).toEqual({
      kind: 'hello',
      source: 'src0',
      lastCommittedCp: 1,
      helloSeq: 1,
    });
    // The next write takes the next seq.
    pair.tick(1);
    pair.write(4, 4, 4);
    pair.deliverAll();
    expect(pair.lastSentBySource('log-entry')).toMatchObject({ seq: 4, lba: 4 });
    expect(pair.destination.logRecords('src0').map((r) => r.seq)).toEqual([4]);
  });
});

describe('a restart on a degraded primary (rule D6)', () => {
  it('mounts with a data disk failed, either of the first two: every LBA reads back', () => {
    for (let failed = 0; failed < 2; failed++) {
      const pair = new ServerPair();
      afterWrites(pair, 6);
      pair.tick(CP_INTERVAL_TICKS);
      pair.sourceMedia.disks[failed]!.fail();
      pair.restartSource();
      expect(pair.source.committedCp, `disk ${failed} failed`).toBeGreaterThanOrEqual(1);
      for (let lba = 1; lba <= 6; lba++)
        expect(pair.source.readCommitted(lba), `disk ${failed} failed, lba ${lba}`).toEqual(block(lba));
    }
  });

  it('the canary that resyncs over the missing disk erases the blocks that lived on it', () => {
    const pair = new ServerPair({ source: { unsafeResyncOverMissing: true } });
    afterWrites(pair, 6);
    pair.tick(CP_INTERVAL_TICKS);
    pair.sourceMedia.disks[0]!.fail();
    pair.restartSource();
    const wrong = [1, 2, 3, 4, 5, 6].filter((lba) => {
      try {
        return !sameBlock(pair.source.readCommitted(lba), block(lba));
      } catch {
        return true;
      }
    });
    expect(wrong.length).toBeGreaterThan(0);
  });
});

function sameBlock(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

describe('a rebuild of a primary disk that a power cut interrupts', () => {
  it('is finished by the recovery at every cut, torn or whole, whichever disk: every LBA reads back', () => {
    const slots = Array.from({ length: new ServerPair().sourceMedia.disks.length }, (_, i) => i);
    for (const slot of slots)
      for (const torn of [false, true]) {
        let cuts = 0;
        for (let k = 1; ; k++) {
          // Writes 1..12 committed (LBAs 1..12), then the disk in `slot` fails and is replaced.
          const pair = new ServerPair();
          afterWrites(pair, 12);
          pair.tick(CP_INTERVAL_TICKS);
          const cp = pair.source.committedCp;
          expect(pair.source.pendingWrites).toBe(0);
          const disks = pair.sourceMedia.disks;
          const power = disks[slot]!.power;
          disks[slot]!.fail();
          const spare = new Disk({
            id: 'spare',
            blockCount: disks[slot]!.blockCount,
            blockBytes: disks[slot]!.blockBytes,
            power,
          });
          disks[slot] = spare;
          power.armCut(k, torn);
          try {
            pair.source.replaceDisk(slot, spare);
          } catch (e) {
            if (!(e instanceof PowerLoss)) throw e;
          }
          if (power.isArmed) {
            power.disarm();
            break;
          }
          cuts++;
          power.restore();
          // Twice: the second time with another disk lost, so the spare's blocks are read too.
          for (const lost of [null, (slot + 1) % disks.length]) {
            if (lost !== null) disks[lost]!.fail();
            pair.restartSource();
            expect(pair.source.committedCp, `slot ${slot}, cut after write ${k}`).toBeGreaterThan(cp);
            for (let lba = 0; lba < LBA_COUNT; lba++)
              expect(pair.source.readCommitted(lba), `LBA ${lba}`).toEqual(
                block(lba >= 1 && lba <= 12 ? lba : 0),
              );
          }
        }
        expect(cuts).toBeGreaterThan(2);
      }
  });
});

describe('sequence numbers and stale answers', () => {
  it('after a restart whose NVLOG was freed by a confirmed CP, seqs go on from what that CP covers', () => {
    const pair = new ServerPair();
    afterWrites(pair, 3);
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.source.committedCp).toBe(1);
    expect(pair.source.cpInProgress).toBe(false);
    pair.restartSource();
    pair.tick(1);
    pair.write(4, 4, 4);
    pair.deliverAll();
    expect(pair.lastSentBySource('log-entry')).toMatchObject({ seq: 4, lba: 4 });
  });

  it('semi-sync: an older log-ack delivered late does not move the acknowledged point back', () => {
    const pair = new ServerPair({ mode: 'semi-sync' });
    afterWrites(pair, 3);
    // Log-ack 1 again, after log-ack 3: the lag still counts from seq 3.
    pair.source.receive({ kind: 'log-ack', source: 'src0', seq: 1 });
    for (let i = 4; i <= 8; i++) pair.write(i, i, i);
    // Writes 4 to 7 lag by at most 4 entries (the bound) and are acknowledged at once; write 8 waits.
    for (let i = 4; i <= 7; i++) expect(pair.answersTo(i)).toEqual([{ writeId: i, ok: true }]);
    expect(pair.answersTo(8)).toEqual([]);
  });

  it('ignores a log entry, a CP sync and a hello sent to it: they flow the other way', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    const before = { cp: pair.source.committedCp, sent: pair.sentBySource.length };
    pair.source.receive({ kind: 'log-entry', source: 'src0', seq: 3, lba: 3, data: block(9), entrySum: 0 });
    pair.source.receive({ kind: 'hello', source: 'src0', lastCommittedCp: 0, helloSeq: 1 });
    pair.collect();
    expect(pair.sentBySource.length).toBe(before.sent);
    expect(pair.source.committedCp).toBe(before.cp);
    expect(pair.source.clientRead(3)).toEqual(block(0));
    expect(pair.source.relationshipState).toBe('in-sync');
  });
});

describe('zero blocks, disk traffic and the NVLOG after a resync', () => {
  it('an all-zero write replaces the block, and one with a single nonzero byte is written whole', () => {
    const pair = new ServerPair();
    afterWrites(pair, 1);
    pair.tick(CP_INTERVAL_TICKS);
    pair.source.clientWrite(10, 1, block(0));
    pair.collect();
    expect(pair.source.clientRead(1)).toEqual(block(0));
    const sparse = block(0);
    sparse[LBA_COUNT] = 7;
    pair.source.clientWrite(11, 2, sparse);
    expect(pair.source.clientRead(2)).toEqual(sparse);
    pair.deliverAll();
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.source.readCommitted(1)).toEqual(block(0));
    expect(pair.destination.readCommitted('src0', 2)).toEqual(sparse);
  });

  it('a client write reads nothing from the primary disks: the NVLOG and memory take it', () => {
    const pair = new ServerPair();
    afterWrites(pair, 3);
    pair.tick(CP_INTERVAL_TICKS);
    const reads = () => pair.sourceMedia.disks.reduce((n, d) => n + d.reads, 0);
    const before = reads();
    pair.write(10, 1, 10);
    pair.write(11, 5, 11);
    expect(reads()).toBe(before);
    // A read of a committed LBA does go to the disks (so the count above can move).
    pair.source.clientRead(2);
    expect(reads()).toBeGreaterThan(before);
  });

  it('a resync leaves the NVLOG empty: a half again takes nvlogHalfEntries writes before a CP starts', () => {
    const pair = new ServerPair();
    afterWrites(pair, 2);
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.destination.mirrorCp('src0')).toBe(1);
    loseTheLink(pair, 3);
    // Two local CPs out of sync (the transfer then needs one more: CP 4 against the mirror's CP 1),
    // and two writes after them, still in the NVLOG when the hello is answered.
    for (let i = 0; i < 2; i++) {
      pair.write(20 + i, 5, 20 + i);
      pair.tick(CP_INTERVAL_TICKS, false);
      pair.dropInFlight();
    }
    expect(pair.source.committedCp).toBe(3);
    pair.write(30, 6, 30);
    pair.write(31, 7, 31);
    pair.tick(5);
    expect(pair.source.relationshipState).toBe('in-sync');
    expect(pair.source.committedCp).toBe(4);
    expect(pair.source.cpInProgress).toBe(false);
    for (let i = 0; i < 4; i++) pair.write(40 + i, 8 + i, 40 + i);
    expect(pair.source.cpInProgress).toBe(false);
    expect(pair.source.committedCp).toBe(4);
    pair.write(44, 12, 44);
    expect(pair.source.cpInProgress).toBe(true);
    pair.deliverAll();
    expect(pair.destination.readCommitted('src0', 7)).toEqual(block(31));
  });
});

/** A lone source (no destination) on blocks of `blockBytes`, for canaries the kit's 64-byte blocks hide. */
function loneSource(blockBytes: number, extra: Partial<SourceConfig>): SourceServer {
  const spec = smallWorld({ blockBytes, lbaCount: LBA_COUNT, nvlogHalfEntries: 4 });
  const s = spec.sources[0]!;
  const power = new Power();
  const disks = Array.from(
    { length: disksFor(s.primary) },
    (_, i) => new Disk({ id: `d${i}`, blockCount: s.primary.blocksPerDisk, blockBytes, power }),
  );
  return SourceServer.format(
    {
      id: s.id,
      mode: 'sync',
      lbaCount: s.lbaCount,
      geometry: s.primary,
      cpIntervalTicks: CP_INTERVAL_TICKS,
      ackTimeoutTicks: ACK_TIMEOUT_TICKS,
      semiSyncMaxLagEntries: SEMI_SYNC_MAX_LAG_ENTRIES,
      nvlogHalfEntries: 4,
      ...extra,
    },
    { nvram: new Nvram(s.nvramBytes, power), disks },
  );
}

describe('canary variations really deviate (and the reference does not)', () => {
  it('unsafeDedupWeakFingerprint: a block equal to an earlier one in its first 64 bytes reads as that one', () => {
    for (const unsafe of [false, true]) {
      const source = loneSource(128, { unsafeDedupWeakFingerprint: unsafe });
      const first = new Uint8Array(128).fill(1);
      const second = new Uint8Array(128).fill(1);
      second.fill(2, 64);
      const third = new Uint8Array(128).fill(3);
      source.clientWrite(1, 1, first);
      source.clientWrite(2, 2, second);
      source.clientWrite(3, 3, third);
      expect(source.clientRead(1)).toEqual(first);
      expect(source.clientRead(2)).toEqual(unsafe ? first : second);
      expect(source.clientRead(3)).toEqual(third);
    }
  });

  it('unsafeZeroWriteAsHole: an all-zero write leaves the old block; any other write lands', () => {
    const pair = new ServerPair({ source: { unsafeZeroWriteAsHole: true } });
    pair.write(1, 1, 5);
    expect(pair.source.clientRead(1)).toEqual(block(5));
    pair.write(2, 1, 0);
    expect(pair.source.clientRead(1)).toEqual(block(5));
    // Logged and forwarded all the same.
    expect(pair.lastSentBySource('log-entry')).toMatchObject({ seq: 2, lba: 1, data: block(0) });
    const sparse = block(0);
    sparse[3] = 9;
    pair.source.clientWrite(3, 1, sparse);
    expect(pair.source.clientRead(1)).toEqual(sparse);
    pair.write(4, 2, 6);
    expect(pair.source.clientRead(2)).toEqual(block(6));
  });

  it('unsafeSpuriousOutOfSync: out of sync at every 7th tick in sync, and only in sync', () => {
    const pair = new ServerPair({ source: { unsafeSpuriousOutOfSync: true } });
    pair.tick(6, false);
    expect(pair.source.relationshipState).toBe('in-sync');
    pair.tick(1, false);
    expect(pair.source.relationshipState).toBe('out-of-sync');
    // Out of sync, hellos go out every ackTimeoutTicks (ticks 7, 11, 15), none more at tick 14.
    pair.tick(7, false);
    expect(
      pair.sentBySource.filter((m) => m.kind === 'hello').map((m) => (m as { helloSeq: number }).helloSeq),
    ).toEqual([1, 2]);
    pair.tick(1, false);
    expect(pair.sentBySource.filter((m) => m.kind === 'hello').length).toBe(3);
  });

  it('unsafeReuseFreedBeforeCommit: a CP writes into a VBN the committed image still uses', () => {
    for (const unsafe of [false, true]) {
      const pair = new ServerPair({ source: { unsafeReuseFreedBeforeCommit: unsafe } });
      afterWrites(pair, 3);
      pair.tick(CP_INTERVAL_TICKS);
      expect(pair.source.committedCp).toBe(1);
      const live = new Set(pair.source.liveVbns());
      pair.write(10, 1, 10);
      pair.write(11, 2, 11);
      pair.deliverAll();
      pair.tick(CP_INTERVAL_TICKS);
      const cp2 = cpSyncs(pair.sentBySource).find((m) => m.cpNumber === 2)!;
      const overwritten = cp2.updates.slice(0, -1).filter((u) => live.has(u.vbn));
      expect(overwritten.length > 0, `unsafe ${unsafe}`).toBe(unsafe);
    }
  });

  it('unsafeLabelSpareFirst: a power cut early in the rebuild leaves a blank spare taken for data', () => {
    for (const unsafe of [false, true]) {
      const pair = new ServerPair({ source: { unsafeLabelSpareFirst: unsafe } });
      afterWrites(pair, 12);
      pair.tick(CP_INTERVAL_TICKS);
      const disks = pair.sourceMedia.disks;
      const power = disks[0]!.power;
      disks[0]!.fail();
      const spare = new Disk({
        id: 'spare',
        blockCount: disks[0]!.blockCount,
        blockBytes: disks[0]!.blockBytes,
        power,
      });
      power.armCut(1, false);
      expect(() => pair.source.replaceDisk(0, spare)).toThrow(PowerLoss);
      expect(disks[0]).toBe(spare);
      power.restore();
      pair.restartSource();
      const wrong = Array.from({ length: LBA_COUNT }, (_, lba) => lba).filter(
        (lba) => !equalBytes(pair.source.readCommitted(lba), block(lba >= 1 && lba <= 12 ? lba : 0)),
      );
      expect(wrong.length > 0, `unsafe ${unsafe}`).toBe(unsafe);
    }
  });

  it('unsafeCpImageEarlyCut: each CP leaves out the last write logged, the next CP holds it; nothing stalls', () => {
    const pair = new ServerPair({ source: { unsafeCpImageEarlyCut: true } });
    for (let round = 1; round <= 4; round++) {
      // Six writes a round: more than a half holds, so a CP starts on a full half too.
      for (let i = 0; i < 6; i++) {
        const id = round * 10 + i;
        pair.write(id, i + 1, id);
        pair.deliverAll();
        expect(pair.answersTo(id), `write ${id}`).toEqual([{ writeId: id, ok: true }]);
      }
      pair.tick(CP_INTERVAL_TICKS);
      expect(pair.source.pendingWrites).toBe(0);
      // The round's last write (LBA 6) is left out of the CP's image; its LBA reads as before it.
      expect(pair.source.readCommitted(5)).toEqual(block(round * 10 + 4));
      expect(pair.source.readCommitted(6)).toEqual(block(round === 1 ? 0 : (round - 1) * 10 + 5));
      expect(pair.source.clientRead(6)).toEqual(block(round * 10 + 5));
    }
    expect(pair.source.relationshipState).toBe('in-sync');
  });

  it('unsafeCpImageEarlyCut, out of sync: the held-back write stays in the NVLOG across a restart', () => {
    const pair = new ServerPair({ source: { unsafeCpImageEarlyCut: true } });
    afterWrites(pair, 2);
    pair.tick(CP_INTERVAL_TICKS);
    loseTheLink(pair, 3);
    pair.write(4, 4, 4);
    pair.tick(CP_INTERVAL_TICKS, false);
    pair.dropInFlight();
    expect(pair.source.committedCp).toBe(2);
    expect(pair.source.readCommitted(4)).toEqual(block(0));
    pair.restartSource();
    expect(pair.source.readCommitted(4)).toEqual(block(4));
    expect(pair.source.readCommitted(0)).toEqual(block(3));
  });

  it('unsafeCpImageEarlyCut: a write a resync’s local CP already covers is not held back again', () => {
    const pair = new ServerPair({ source: { unsafeCpImageEarlyCut: true } });
    afterWrites(pair, 2);
    pair.tick(CP_INTERVAL_TICKS);
    loseTheLink(pair, 3);
    pair.tick(5);
    expect(pair.source.relationshipState).toBe('in-sync');
    const cp = pair.source.committedCp;
    expect(pair.source.readCommitted(0)).toEqual(block(3));
    // The timer's next CP has no write of its own to hold back: write 3 stays in its image.
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.source.committedCp).toBe(cp + 1);
    expect(pair.source.readCommitted(0)).toEqual(block(3));
    expect(pair.destination.readCommitted('src0', 0)).toEqual(block(3));
  });
});

describe('scrub', () => {
  it('rewrites a latent error from parity and says how many it repaired', () => {
    const pair = new ServerPair();
    afterWrites(pair, 4);
    pair.tick(CP_INTERVAL_TICKS);
    expect(pair.source.scrub()).toBe(0);
    const disk = pair.sourceMedia.disks[0]!;
    const dbn = disk.storedDbns()[0]!;
    disk.plantLatentError(dbn);
    expect(disk.verifies(dbn)).toBe(false);
    expect(pair.source.scrub()).toBe(1);
    expect(disk.verifies(dbn)).toBe(true);
    for (let lba = 1; lba <= 4; lba++) expect(pair.source.readCommitted(lba)).toEqual(block(lba));
  });
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

describe('a primary past its RAID tolerance goes offline (rule D4)', () => {
  /** Writes 1..10 undelivered: CP 1 started at write 5 and awaits its confirm, writes 9 and 10 stall. */
  function stalledThenLost(pair: ServerPair): void {
    for (let i = 1; i <= 10; i++) pair.write(i, i, i);
    expect(pair.source.pendingWrites).toBe(10);
    // Two disks of the RAID-4 primary fail: the next CP cannot be written.
    pair.sourceMedia.disks[0]!.fail();
    pair.sourceMedia.disks[1]!.fail();
    pair.deliverAll();
  }

  it('stalled writes and later ones fail; logged ones are still answered; no CP or hello after', () => {
    const pair = new ServerPair();
    stalledThenLost(pair);
    for (let i = 1; i <= 8; i++) expect(pair.answersTo(i), `write ${i}`).toEqual([{ writeId: i, ok: true }]);
    for (const i of [9, 10]) {
      expect(pair.answersTo(i).length, `write ${i}`).toBe(1);
      expect(pair.answersTo(i)[0]).toMatchObject({ writeId: i, ok: false });
      expect(pair.answersTo(i)[0]!.error).toMatch(/^volume offline: ./);
    }
    expect(pair.source.pendingWrites).toBe(0);
    pair.write(11, 1, 11);
    expect(pair.answersTo(11)).toEqual([{ writeId: 11, ok: false, error: pair.answersTo(9)[0]!.error }]);
    const sent = pair.sentBySource.length;
    const cp = pair.source.committedCp;
    pair.tick(3 * CP_INTERVAL_TICKS);
    expect(pair.source.committedCp).toBe(cp);
    expect(pair.sentBySource.filter((m) => m.kind !== 'log-entry').length).toBe(
      pair.sentBySource.slice(0, sent).filter((m) => m.kind !== 'log-entry').length,
    );
  });

  it('a write whose full half starts the CP that finds the volume lost fails with it', () => {
    const pair = new ServerPair();
    afterWrites(pair, 4);
    pair.sourceMedia.disks[0]!.fail();
    pair.sourceMedia.disks[1]!.fail();
    pair.write(5, 5, 5);
    expect(pair.answersTo(5)).toHaveLength(1);
    expect(pair.answersTo(5)[0]).toMatchObject({ writeId: 5, ok: false });
    expect(pair.answersTo(5)[0]!.error).toMatch(/^volume offline: ./);
    expect(pair.source.pendingWrites).toBe(0);
  });

  it('unsafeStallWhenOffline: the canary leaves stalled and later writes waiting for a CP that never comes', () => {
    const pair = new ServerPair({ source: { unsafeStallWhenOffline: true } });
    stalledThenLost(pair);
    expect(pair.answersTo(9)).toEqual([]);
    pair.write(11, 1, 11);
    pair.tick(3 * CP_INTERVAL_TICKS);
    expect(pair.answersTo(11)).toEqual([]);
    expect(pair.source.pendingWrites).toBe(3);
  });
});
