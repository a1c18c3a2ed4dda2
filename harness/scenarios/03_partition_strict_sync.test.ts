// Scenario 3: the partition of scenario 2 in strict-sync mode. While the relationship is out of sync
// (or resyncing) client writes fail, and at no step is a write acknowledged that the destination does
// not hold (in its log file for the source, or under its committed mirror).

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget } from '../target.ts';
import type { WorldAction } from '../world.ts';
import {
  clientReadAll,
  cpSyncsDelivered,
  distinctLbasWritten,
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  expectStaysInSync,
  logFileIds,
  MirroredAckAudit,
  mirrorImage,
  runCp,
  scenarioWorld,
  settled,
  sourceObs,
  tickUntil,
} from './scenario_kit.ts';

const SEED = 303;

function partitionInStrictSyncMode(target: ConformanceTarget): void {
  const world = scenarioWorld({ seed: SEED, target, mode: 'strict-sync' });
  const audit = new MirroredAckAudit(world, 'src0');
  const step = (action: WorldAction): void => {
    world.step(action);
    audit.check();
  };
  const write = (lbas: readonly number[]): number[] =>
    lbas.map((lba) => {
      step({ kind: 'write', source: 'src0', lba });
      return world.writes.at(-1)!.writeId;
    });
  const until = (done: () => boolean, maxTicks: number, what: string): number =>
    tickUntil(world, done, maxTicks, what, () => audit.check());

  const first = write([0, 1, 2, 3, 4, 5, 6, 7]);
  until(() => settled(world, 'src0') && sourceObs(world, 'src0').mirrorCp === 1, 30, 'CP 1 mirrored');
  for (const id of first) expect(world.writeRecord(id)!.outcome?.ok).toBe(true);
  const lastCommonId = world.writes.length;

  // Mid-stream: these writes' log entries are lost with the link; the clients are still waiting.
  const inFlight = write([4, 5, 8, 9, 10]);
  step({ kind: 'partition', source: 'src0' });
  until(() => sourceObs(world, 'src0').relationship === 'out-of-sync', 10, 'out of sync');
  // Never acknowledged: they failed when the link was declared lost (their outcome is indeterminate).
  for (const id of inFlight) expect(world.writeRecord(id)!.outcome?.ok).toBe(false);

  // Out of sync: refused at once, nothing applied.
  const refused = write([10, 11, 12, 20]);
  for (const id of refused) {
    const { outcome, issuedTick } = world.writeRecord(id)!;
    expect(outcome).toMatchObject({ ok: false, tick: issuedTick });
  }
  for (let t = 0; t < 2 * world.spec.cpIntervalTicks; t++) step({ kind: 'tick', ticks: 1 });
  refused.push(...write([21]));
  expect(sourceObs(world, 'src0').mirrorCp).toBe(1);

  step({ kind: 'heal', source: 'src0' });
  const sinceHeal = world.deliveries.length;
  until(() => sourceObs(world, 'src0').relationship === 'resyncing', 10, 'resyncing');
  // Resyncing is not in sync either: refused at once.
  refused.push(...write([22]));
  expect(world.writeRecord(refused.at(-1)!)!.outcome?.ok).toBe(false);
  until(() => settled(world, 'src0'), 30, 'in sync after the heal');
  expectStaysInSync(world, 'src0', 2 * world.spec.ackTimeoutTicks);
  audit.check();

  const transfers = cpSyncsDelivered(world, 'src0', sinceHeal);
  expect(transfers[0]!.resync).toBe(true);
  expect(transfers.filter((m) => m.resync).length).toBe(1);
  // The blocks changed since CP 1 are those the in-flight writes dirtied (they reached the volume
  // before they failed); the refused writes changed nothing.
  const changed = distinctLbasWritten(world, 'src0', lastCommonId, Number.POSITIVE_INFINITY, (id) =>
    inFlight.includes(id),
  );
  expect(changed).toBe(5);
  expect(transfers[0]!.updates.length).toBe(changed + 1 + 1);
  expectMirrorEqualsPrimary(world, 'src0');

  // In sync again: writes are acknowledged after the destination logged them.
  const later = write([30, 31, 10]);
  until(() => later.every((id) => world.writeRecord(id)!.outcome !== undefined), 10, 'answered');
  for (const id of later) expect(world.writeRecord(id)!.outcome?.ok).toBe(true);
  expect(logFileIds(world, 'src0').map((r) => r.writeId)).toEqual(later);
  runCp(world, 'src0', () => audit.check());
  expectMirrorEqualsPrimary(world, 'src0');

  // A refused write is nowhere: not in the primary, the mirror or the log file.
  const reads = clientReadAll(world, 'src0');
  const mirror = mirrorImage(world, 'src0');
  for (const id of refused) {
    expect(reads).not.toContain(id);
    expect(mirror).not.toContain(id);
  }
  expect(expectNoAckedWriteLost(world, 'src0', (lba) => reads[lba]!, 'client reads')).toBe(11);
  expect(mirror).toEqual(reads);
  expect(audit.checked).toBe(first.length + later.length);
}

describe('scenario 3: a partition mid-stream in strict-sync mode', () => {
  it('fails writes while out of sync and never acknowledges an unmirrored write', () => {
    partitionInStrictSyncMode(referenceTarget());
  });

  it('catches the canary that acknowledges before the destination logged the write', () => {
    const canary = referenceTarget(
      'ack-before-mirror',
      'acks sync writes early',
      { ackBeforeMirror: true },
      'fail',
    );
    expect(() => partitionInStrictSyncMode(canary)).toThrow(/acknowledged unmirrored/);
  });
});
