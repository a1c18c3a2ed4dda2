// The destination's log-entry intake, driven through the reference target's interface: an entry whose
// data does not match the checksum the source's NVLOG gave it is neither logged nor acknowledged,
// even inside an intact frame; the matching entry is both.

import { describe, expect, it } from 'vitest';
import { smallWorld } from '../harness/presets.ts';
import { World } from '../harness/world.ts';
import { checksum } from './checksum.ts';
import { referenceTarget } from './reference_target.ts';
import { decodeMessage, encodeMessage, WireError } from './wire.ts';

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
