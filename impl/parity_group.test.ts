// Unit tests of ParityGroup (parity_group.ts) itself, on RAID-4 and RAID-DP codes: the label block's
// layout and how assembly reads it, argument checks and refusals, which blocks a write reads and in
// what order it writes, repairs on the fast and degraded paths, rebuild, resync and scrub edge cases,
// and disks that fail (or err) in the middle of an operation.

import { afterEach, describe, expect, test, vi } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import { Disk, type DiskOptions } from '../harness/media/disk.ts';
import { ConfigError, DiskFailed, PowerLoss } from '../harness/media/errors.ts';
import type { RaidGeometry, RaidLevel } from '../harness/media/geometry.ts';
import { Power } from '../harness/media/power.ts';
import { RaidFailure } from './errors.ts';
import type { ParityCode } from './parity_code.ts';
import { ParityGroup } from './parity_group.ts';
import { raidDpCode } from './raid_dp.ts';
import { raid4Code } from './raid4.ts';

const BLOCK_BYTES = 64;
const ZEROS = new Uint8Array(BLOCK_BYTES);
/** The label's words, as parity_group.ts documents them: magic, version, slot, width, state. */
const LABEL_MAGIC = 0x4c41_4244;
const STATE_FORMATTING = 1;
const STATE_MEMBER = 2;

/**
 * A disk that can fail at a chosen access, as a disk dying under load does, or whose controller
 * throws some other error; it logs every write it is asked for (`id:dbn`) into a shared list.
 */
class FlakyDisk extends Disk {
  readonly dieOnRead = new Set<number>();
  readonly dieOnWrite = new Set<number>();
  readonly errOnRead = new Set<number>();

  constructor(
    options: DiskOptions,
    readonly log: string[] = [],
  ) {
    super(options);
  }

  override read(dbn: number) {
    if (this.errOnRead.has(dbn)) throw new Error(`${this.id}: controller fault at ${dbn}`);
    if (this.dieOnRead.has(dbn)) this.fail();
    return super.read(dbn);
  }

  override write(dbn: number, data: Uint8Array, sum: number): void {
    if (this.dieOnWrite.has(dbn)) this.fail();
    this.log.push(`${this.id}:${dbn}`);
    super.write(dbn, data, sum);
  }
}

interface Rig {
  readonly geometry: RaidGeometry;
  readonly code: ParityCode;
  readonly disks: FlakyDisk[];
  readonly group: ParityGroup;
  readonly power: Power;
  readonly log: string[];
  readonly labelDbn: number;
}

/** depthBlocks 1 and `stripes` whole stripes, then the label: a group of fresh FlakyDisks named pg.*. */
function rig(level: RaidLevel, dataDisks: number, stripes = 2): Rig {
  const code = level === 'raid4' ? raid4Code(dataDisks) : raidDpCode(dataDisks);
  const blocksPerDisk = code.rows * stripes + 1;
  const geometry: RaidGeometry = { level, dataDisks, depthBlocks: 1, blocksPerDisk, blockBytes: BLOCK_BYTES };
  const power = new Power();
  const log: string[] = [];
  const names = [...Array.from({ length: dataDisks }, (_, i) => `d${i}`), 'p', 'q'].slice(0, code.columns);
  const disks = names.map(
    (n) => new FlakyDisk({ id: `pg.${n}`, blockCount: blocksPerDisk, blockBytes: BLOCK_BYTES, power }, log),
  );
  const group = new ParityGroup(geometry, code, disks, 'pg');
  return { geometry, code, disks, group, power, log, labelDbn: blocksPerDisk - 1 };
}

function spareOf(r: Rig, id = 'spare'): FlakyDisk {
  return new FlakyDisk(
    { id, blockCount: r.geometry.blocksPerDisk, blockBytes: BLOCK_BYTES, power: r.power },
    r.log,
  );
}

/** The group a server assembles from these disks after a restart. */
function assemble(r: Rig, disks: readonly Disk[] = r.disks): ParityGroup {
  return new ParityGroup(r.geometry, r.code, disks, 'pg');
}

function blockOf(seed: number): Uint8Array {
  return Uint8Array.from({ length: BLOCK_BYTES }, (_, i) => (seed * 31 + i * 7 + 1) & 0xff);
}

function xorBlocks(blocks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(BLOCK_BYTES);
  for (const b of blocks) for (let i = 0; i < BLOCK_BYTES; i++) out[i]! ^= b[i]!;
  return out;
}

/** Writes VBN v with blockOf(v + seedBase) for each of `vbns`. */
function writeVbns(group: ParityGroup, vbns: readonly number[], seedBase = 1): void {
  group.write(vbns.map((vbn) => ({ vbn, data: blockOf(vbn + seedBase) })));
}

function labelWords(disk: Disk, labelDbn: number): number[] {
  const data = disk.read(labelDbn).data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return Array.from({ length: 5 }, (_, i) => view.getUint32(4 * i, true));
}

function labelBlock(words: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(BLOCK_BYTES);
  const view = new DataView(bytes.buffer);
  for (const [i, w] of words.entries()) view.setUint32(4 * i, w, true);
  return bytes;
}

function putBlock(disk: Disk, dbn: number, data: Uint8Array): void {
  disk.write(dbn, data, checksum(data));
}

/** Per-disk read counts since `before` (taken with readsOf). */
function readsOf(disks: readonly Disk[]): number[] {
  return disks.map((d) => d.reads);
}

function readsSince(disks: readonly Disk[], before: readonly number[]): number[] {
  return disks.map((d, i) => d.reads - before[i]!);
}

describe('labels', () => {
  test('the first write labels every disk an in-sync member of its slot: magic, version, slot, width, state', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0]);
    r.disks.forEach((disk, slot) => {
      expect(labelWords(disk, r.labelDbn)).toEqual([LABEL_MAGIC, 1, slot, 4, STATE_MEMBER]);
      expect(disk.read(r.labelDbn).data.subarray(20)).toEqual(new Uint8Array(BLOCK_BYTES - 20));
      expect(disk.verifies(r.labelDbn)).toBe(true);
    });
  });

  test("a cut after the format's first pass leaves 'formatting' labels: still unformatted, every disk trusted", () => {
    const r = rig('raid4', 3);
    r.power.armCut(4, false);
    expect(() => writeVbns(r.group, [0])).toThrow(PowerLoss);
    for (const disk of r.disks) expect(labelWords(disk, r.labelDbn)[4]).toBe(STATE_FORMATTING);
    r.power.restore();
    const again = assemble(r);
    expect(again.failedDisks()).toEqual([]);
    writeVbns(again, [0]);
    for (const disk of r.disks) expect(labelWords(disk, r.labelDbn)[4]).toBe(STATE_MEMBER);
    expect(assemble(r).read(0)).toEqual(blockOf(1));
  });

  test('a label that verifies but names another magic, version, slot or width, or no state, reads blank: an unfinished spare', () => {
    const good = [LABEL_MAGIC, 1, 1, 4, STATE_MEMBER];
    const variants: [string, number[]][] = [
      ['magic', [LABEL_MAGIC + 1, 1, 1, 4, STATE_MEMBER]],
      ['version', [LABEL_MAGIC, 2, 1, 4, STATE_MEMBER]],
      ['slot', [LABEL_MAGIC, 1, 2, 4, STATE_MEMBER]],
      ['width', [LABEL_MAGIC, 1, 1, 5, STATE_MEMBER]],
      ['state 0', [LABEL_MAGIC, 1, 1, 4, 0]],
      ['state 3', [LABEL_MAGIC, 1, 1, 4, 3]],
    ];
    for (const [what, words] of [['none', good] as [string, number[]], ...variants]) {
      const r = rig('raid4', 3);
      writeVbns(r.group, [0, 1, 2]);
      putBlock(r.disks[1]!, r.labelDbn, labelBlock(words));
      const expected = what === 'none' ? [] : [1];
      expect({ what, failed: assemble(r).failedDisks() }).toEqual({ what, failed: expected });
    }
  });

  test('a label that fails its checksum still shows a member; scrub rewrites that label alone', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[2]!.plantLatentError(r.labelDbn, 3);
    const group = assemble(r);
    expect(group.failedDisks()).toEqual([]);
    const writes = r.disks.map((d) => d.writes);
    expect(group.scrub()).toBe(1);
    expect(group.stats.repairedBlocks).toBe(1);
    expect(r.disks.map((d, i) => d.writes - writes[i]!)).toEqual([0, 0, 1, 0]);
    expect(labelWords(r.disks[2]!, r.labelDbn)).toEqual([LABEL_MAGIC, 1, 2, 4, STATE_MEMBER]);
    expect(r.disks[2]!.verifies(r.labelDbn)).toBe(true);
  });

  test('scrub of an unformatted group with an unreadable label formats every disk', () => {
    const r = rig('raid4', 3);
    r.disks[0]!.plantLatentError(r.labelDbn);
    expect(r.group.scrub()).toBe(1);
    for (const [slot, disk] of r.disks.entries())
      expect(labelWords(disk, r.labelDbn)).toEqual([LABEL_MAGIC, 1, slot, 4, STATE_MEMBER]);
    expect(assemble(r).failedDisks()).toEqual([]);
  });

  test('scrub of a group never written writes nothing and repairs nothing', () => {
    const r = rig('raid_dp', 3);
    expect(r.group.scrub()).toBe(0);
    expect(r.disks.map((d) => d.writes)).toEqual([0, 0, 0, 0, 0]);
    expect(r.group.stats.repairedBlocks).toBe(0);
  });

  test('a disk that dies reading its label is missing at assembly; any other read error propagates', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[1]!.dieOnRead.add(r.labelDbn);
    const group = assemble(r);
    expect(group.failedDisks()).toEqual([1]);
    expect(group.read(1)).toEqual(blockOf(2));
    const s = rig('raid4', 3);
    writeVbns(s.group, [0]);
    s.disks[2]!.errOnRead.add(s.labelDbn);
    expect(() => assemble(s)).toThrow('pg.d2: controller fault');
  });
});

describe('arguments and refusals', () => {
  test('a disk list that does not match the code is an invariant violation', () => {
    const r = rig('raid4', 3);
    expect(() => new ParityGroup(r.geometry, r.code, r.disks.slice(1), 'pg')).toThrow(
      'invariant violated: one disk per code column',
    );
  });

  test('a VBN outside 0..vbnCount-1, or not an integer, is a RangeError naming the group', () => {
    const r = rig('raid4', 3);
    expect(r.group.vbnCount).toBe(6);
    for (const vbn of [-1, 6, 0.5, Number.NaN]) {
      expect(() => r.group.read(vbn)).toThrow(new RangeError(`pg: no VBN ${vbn} (the group holds 6)`));
      expect(() => r.group.write([{ vbn, data: blockOf(1) }])).toThrow(RangeError);
    }
    expect(r.group.read(5)).toEqual(ZEROS);
    expect(r.disks.map((d) => d.writes)).toEqual([0, 0, 0, 0]);
  });

  test('a block of the wrong size is a RangeError naming the VBN, and nothing is written', () => {
    const r = rig('raid4', 3);
    expect(() =>
      r.group.write([
        { vbn: 0, data: blockOf(1) },
        { vbn: 4, data: new Uint8Array(32) },
      ]),
    ).toThrow(new RangeError('VBN 4: block of 32 bytes, expected 64'));
    expect(r.disks.map((d) => d.writes)).toEqual([0, 0, 0, 0]);
  });

  test('replaceAndRebuild refuses a slot outside the group and a spare that is no blank fitting disk', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0]);
    for (const index of [-1, 4, 1.5])
      expect(() => r.group.replaceAndRebuild(index, spareOf(r))).toThrow(
        new RangeError(`pg: no disk slot ${index} (the group has 4)`),
      );
    const failed = spareOf(r, 'dead');
    failed.fail();
    const wide = new Disk({ id: 'wide', blockCount: r.geometry.blocksPerDisk, blockBytes: 128 });
    const cases: [Disk, string][] = [
      [r.disks[1]!, 'pg: spare pg.d1 is the disk it would replace'],
      [r.disks[2]!, 'pg: spare pg.d2 is already in the group'],
      [failed, 'pg: spare dead has failed'],
      [wide, 'pg: spare wide has 128-byte blocks, the group 64'],
    ];
    for (const [spare, message] of cases) {
      expect(() => r.group.replaceAndRebuild(1, spare)).toThrow(new ConfigError(message));
    }
    expect(r.group.disks[1]).toBe(r.disks[1]);
    // The last slot is a slot: a rebuild of the parity disk onto a good spare goes through.
    r.disks[3]!.fail();
    const spare = spareOf(r);
    r.group.replaceAndRebuild(3, spare);
    expect(r.group.disks[3]).toBe(spare);
    expect(r.group.failedDisks()).toEqual([]);
  });

  test('past tolerance every call refuses with the lost disks and the tolerance; an empty write does nothing', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[0]!.fail();
    r.disks[2]!.fail();
    const tail =
      '2 disks lost (pg.d0, pg.d2) but RAID-4 tolerates 1; the group is offline until disks return';
    expect(() => r.group.read(1)).toThrow(new RaidFailure(`pg: cannot read VBN 1: ${tail}`));
    expect(() => writeVbns(r.group, [1])).toThrow(new RaidFailure(`pg: cannot write 1 blocks: ${tail}`));
    expect(() => r.group.resyncParity()).toThrow(new RaidFailure(`pg: cannot resync parity: ${tail}`));
    expect(() => r.group.scrub()).toThrow(new RaidFailure(`pg: cannot scrub: ${tail}`));
    expect(() => r.group.write([])).not.toThrow();
    const spare = spareOf(r);
    expect(() => r.group.replaceAndRebuild(0, spare)).toThrow(
      new RaidFailure(`pg: cannot rebuild disk 0: ${tail}`),
    );
    expect(spare.writes).toBe(0);
    expect(r.group.disks[0]).toBe(r.disks[0]);
  });

  test('a rebuild that would leave a second disk missing refuses before touching the spare', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[1]!.fail();
    const spare = spareOf(r);
    expect(() => r.group.replaceAndRebuild(0, spare)).toThrow(
      new RaidFailure(
        'pg: cannot rebuild disk 0: 2 disks lost (pg.d1, pg.d0) but RAID-4 tolerates 1; the group is offline until disks return',
      ),
    );
    expect(spare.writes).toBe(0);
    expect(r.group.disks[0]).toBe(r.disks[0]);
    expect(r.group.read(0)).toEqual(blockOf(1));
  });
});

describe('reads', () => {
  test('a healthy read reads one block and hands back a copy, not the stored block', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    const before = r.group.stats.blockReads;
    const got = r.group.read(1);
    expect(r.group.stats.blockReads).toBe(before + 1);
    expect(got).toEqual(blockOf(2));
    got.fill(0xaa);
    expect(r.disks[1]!.verifies(0)).toBe(true);
    expect(r.group.read(1)).toEqual(blockOf(2));
    expect(r.group.stats.repairedBlocks).toBe(0);
  });

  test('a latent error is repaired on read and counted as a repair, not a degraded read', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[1]!.plantLatentError(0);
    expect(r.group.read(1)).toEqual(blockOf(2));
    expect(r.group.stats).toMatchObject({ repairedBlocks: 1, degradedReads: 0 });
    expect(r.disks[1]!.verifies(0)).toBe(true);
    r.disks[1]!.fail();
    expect(r.group.read(1)).toEqual(blockOf(2));
    expect(r.group.stats.degradedReads).toBe(1);
  });

  test("readInto fills the caller's block as read would: healthy, repaired, degraded; a reconstructed read is a copy too", () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    const out = new Uint8Array(BLOCK_BYTES).fill(0x55);
    r.group.readInto(1, out);
    expect(out).toEqual(blockOf(2));
    out.fill(0xaa);
    expect(r.group.read(1)).toEqual(blockOf(2));
    r.disks[2]!.plantLatentError(0);
    const view = new Uint8Array(3 * BLOCK_BYTES).subarray(BLOCK_BYTES, 2 * BLOCK_BYTES);
    r.group.readInto(2, view);
    expect(view).toEqual(blockOf(3));
    expect(r.group.stats).toMatchObject({ repairedBlocks: 1, degradedReads: 0 });
    r.disks[0]!.fail();
    const degraded = r.group.read(0);
    expect(degraded).toEqual(blockOf(1));
    degraded.fill(0);
    r.group.readInto(0, out);
    expect(out).toEqual(blockOf(1));
    expect(r.group.stats.degradedReads).toBe(2);
  });

  test('readInto refuses a block of the wrong size before reading, naming the VBN', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    const before = r.group.stats.blockReads;
    for (const bytes of [BLOCK_BYTES - 1, BLOCK_BYTES + 1])
      expect(() => r.group.readInto(1, new Uint8Array(bytes))).toThrow(
        new RangeError(`read VBN 1 into ${bytes} bytes, expected ${BLOCK_BYTES}`),
      );
    expect(r.group.stats.blockReads).toBe(before);
  });

  test('a disk that dies on the read itself, or on a read during a reconstruction, is read around', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[0]!.dieOnRead.add(0);
    expect(r.group.read(0)).toEqual(blockOf(1));
    expect(r.group.failedDisks()).toEqual([0]);
    // RAID-DP: the block has a latent error, and a disk its row reads dies under that read.
    const dp = rig('raid_dp', 3, 1);
    writeVbns(
      dp.group,
      Array.from({ length: dp.group.vbnCount }, (_, v) => v),
    );
    dp.disks[0]!.plantLatentError(0);
    dp.disks[1]!.dieOnRead.add(0);
    expect(dp.group.read(0)).toEqual(blockOf(1));
    expect(dp.group.failedDisks()).toEqual([1]);
    expect(dp.group.read(3)).toEqual(blockOf(4));
  });

  test('RAID-DP: the blocks of a disk that dies during a reconstruction are rebuilt along the chain', () => {
    // p = 5, 3 data disks (5 columns). Cell 0 (row 0, disk 0) and cell 17 (row 3, disk 2) are bad,
    // so diagonal 0 through cell 0 has two unknowns; disk 1 dies when row 0 reads it. Cell 0 then
    // needs cell 1 (row 0, disk 1) first, which diagonal 1 gives.
    const r = rig('raid_dp', 3, 1);
    writeVbns(
      r.group,
      Array.from({ length: 12 }, (_, v) => v),
    );
    r.disks[0]!.plantLatentError(0);
    r.disks[2]!.plantLatentError(3);
    r.disks[1]!.dieOnRead.add(0);
    expect(r.group.read(0)).toEqual(blockOf(1));
    expect(r.group.failedDisks()).toEqual([1]);
  });

  test('a read error other than a disk failure propagates', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[1]!.errOnRead.add(0);
    expect(() => r.group.read(1)).toThrow('pg.d1: controller fault at 0');
    r.disks[0]!.plantLatentError(0);
    expect(() => r.group.read(0)).toThrow('pg.d1: controller fault at 0');
  });

  test('an unreadable block names the stripe and its losses; the stale-parity note only when a reconstruction was refused', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[0]!.fail();
    r.disks[1]!.plantLatentError(0);
    expect(() => r.group.read(0)).toThrow(
      new RaidFailure(
        'pg: cannot read VBN 0: stripe 0 (lane 0) has lost pg.d0 (missing), pg.d1 DBN 0 (checksum mismatch), more than RAID-4 can reconstruct',
      ),
    );
    // Stale parity: the parity block verifies but no longer matches the data; a latent error on d1.
    const s = rig('raid4', 3);
    writeVbns(s.group, [0, 1, 2]);
    putBlock(s.disks[3]!, 0, blockOf(99));
    s.disks[1]!.plantLatentError(0);
    expect(() => s.group.read(1)).toThrow(
      new RaidFailure(
        'pg: cannot read VBN 1: stripe 0 (lane 0) has lost pg.d1 DBN 0 (checksum mismatch), more than RAID-4 can ' +
          'reconstruct; a reconstruction disagreed with its checksum (stale parity)',
      ),
    );
  });
});

describe('writes', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  /**
   * Interleaved partial and full-stripe writes to two groups; after each, every block reads back from
   * copies of the disks with any `tolerance` of them failed: the parity on disk is exact.
   */
  function interleaved(Group: typeof ParityGroup): void {
    const groups = [rig('raid4', 4, 3), rig('raid_dp', 3, 2)].map((r) => ({
      r,
      group: new Group(r.geometry, r.code, r.disks, 'pg'),
      written: new Map<number, number>(),
    }));
    for (let round = 0; round < 12; round++)
      for (const g of groups) {
        const n = g.group.vbnCount;
        const vbns =
          round % 3 === 2 ? Array.from({ length: n }, (_, v) => v) : [(round * 5) % n, (round * 7 + 1) % n];
        g.group.write(vbns.map((vbn) => ({ vbn, data: blockOf(round * 100 + vbn) })));
        for (const vbn of vbns) g.written.set(vbn, round * 100 + vbn);
        const columns = g.r.code.columns;
        for (let a = 0; a < columns; a++)
          for (
            let b = g.r.code.tolerance === 2 ? a + 1 : a;
            b < (g.r.code.tolerance === 2 ? columns : a + 1);
            b++
          ) {
            const copies = g.r.disks.map((d) => d.clone());
            copies[a]!.fail();
            copies[b]!.fail();
            const degraded = new Group(g.r.geometry, g.r.code, copies, 'pg');
            for (const [vbn, seed] of g.written)
              expect(
                degraded.read(vbn),
                `${g.r.geometry.level} round ${round}, disks ${a} ${b} failed`,
              ).toEqual(blockOf(seed));
          }
      }
  }

  test('stripe plans share one pool of blocks between groups and stripes: parity stays exact', () => {
    interleaved(ParityGroup);
  });

  test('on an engine without WebAssembly the plans take heap blocks, with the same parity', async () => {
    vi.stubGlobal('WebAssembly', undefined);
    vi.resetModules();
    const fresh = await import('./parity_group.ts');
    expect((await import('./parity_wasm.ts')).createWasmXor(1 << 16)).toBeNull();
    interleaved(fresh.ParityGroup);
  });

  test('the stripes of one batch are written in ascending order, each data first, then parity', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0]);
    r.log.length = 0;
    // VBN 3 is stripe 1 on d0, VBN 1 stripe 0 on d1; listed in the opposite order.
    writeVbns(r.group, [3, 1], 10);
    expect(r.log).toEqual(['pg.d1:0', 'pg.p:0', 'pg.d0:1', 'pg.p:1']);
  });

  test('RAID-4 reads old data and parity only when that is fewer reads than the other data blocks', () => {
    // 4 data disks, one block written: 1 + 1 parity < 3 others, so read-modify-write.
    const wide = rig('raid4', 4);
    writeVbns(wide.group, [0, 1, 2, 3]);
    let before = readsOf(wide.disks);
    writeVbns(wide.group, [1], 20);
    expect(readsSince(wide.disks, before)).toEqual([0, 1, 0, 0, 1]);
    // 3 data disks, one block: 2 reads either way; the tie goes to reading the other data.
    const narrow = rig('raid4', 3);
    writeVbns(narrow.group, [0, 1, 2]);
    before = readsOf(narrow.disks);
    writeVbns(narrow.group, [1], 20);
    expect(readsSince(narrow.disks, before)).toEqual([1, 0, 1, 0]);
    for (const [g, n] of [
      [wide.group, 4],
      [narrow.group, 3],
    ] as const)
      for (let v = 0; v < n; v++) expect(g.read(v)).toEqual(blockOf(v + (v === 1 ? 20 : 1)));
  });

  test('RAID-DP counts only the parity a partial write changes when it picks read-modify-write', () => {
    // 4 data disks, p = 5: 16 data cells, 8 equations. A whole row of 4 changes its row and at most
    // 4 diagonals: 4 + 5 < 16 - 4, so the old row and its parity are read, never rows 1..3.
    const r = rig('raid_dp', 4, 1);
    writeVbns(
      r.group,
      Array.from({ length: 16 }, (_, v) => v),
    );
    const before = readsOf(r.disks);
    writeVbns(r.group, [0, 1, 2, 3], 40);
    expect(readsSince(r.disks, before).slice(0, 4)).toEqual([1, 1, 1, 1]);
    for (let v = 0; v < 16; v++) expect(r.group.read(v)).toEqual(blockOf(v + (v < 4 ? 40 : 1)));
  });

  test('read-modify-write that meets a bad old data block falls back to a degraded write', () => {
    const r = rig('raid4', 4);
    writeVbns(r.group, [0, 1, 2, 3]);
    r.disks[1]!.plantLatentError(0);
    const writes = r.disks[1]!.writes;
    writeVbns(r.group, [1], 20);
    // The bad block is overwritten by the new data once, not also "repaired".
    expect(r.disks[1]!.writes).toBe(writes + 1);
    expect(r.group.stats.repairedBlocks).toBe(0);
    expect(r.disks[1]!.verifies(0)).toBe(true);
    r.disks[1]!.fail();
    expect(r.group.read(1)).toEqual(blockOf(21));
  });

  test('read-modify-write that meets bad parity rewrites it and counts one repair', () => {
    const r = rig('raid4', 4);
    writeVbns(r.group, [0, 1, 2, 3]);
    r.disks[4]!.plantLatentError(0);
    writeVbns(r.group, [1], 20);
    expect(r.group.stats.repairedBlocks).toBe(1);
    expect(r.disks[4]!.verifies(0)).toBe(true);
    const data = [0, 1, 2, 3].map((i) => r.disks[i]!.read(0).data);
    expect(r.disks[4]!.read(0).data).toEqual(xorBlocks(data));
  });

  test('reconstruct-write that meets a bad data block repairs that block alone and writes correct parity', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[2]!.plantLatentError(0);
    const writes = r.disks.map((d) => d.writes);
    writeVbns(r.group, [0], 20);
    expect(r.disks.map((d, i) => d.writes - writes[i]!)).toEqual([1, 0, 1, 1]);
    expect(r.group.stats.repairedBlocks).toBe(1);
    expect(r.disks[2]!.verifies(0)).toBe(true);
    expect(r.disks[3]!.read(0).data).toEqual(xorBlocks([blockOf(20), blockOf(2), blockOf(3)]));
  });

  test('a degraded RAID-DP write rewrites only the parity blocks it changes', () => {
    // p = 5, 3 data disks. Cell (row 0, disk 1) lies on row 0 and diagonal 1; row 0's parity lies on
    // diagonal 4, which is not stored: one row parity and one diagonal parity change.
    const r = rig('raid_dp', 3, 1);
    writeVbns(
      r.group,
      Array.from({ length: 12 }, (_, v) => v),
    );
    r.disks[0]!.fail();
    const writes = r.disks.map((d) => d.writes);
    writeVbns(r.group, [1], 50);
    expect(r.disks.slice(1).map((d, i) => d.writes - writes[i + 1]!)).toEqual([1, 0, 1, 1]);
    expect(r.group.stats.repairedBlocks).toBe(0);
    for (let v = 0; v < 12; v++) expect(r.group.read(v)).toEqual(blockOf(v + (v === 1 ? 50 : 1)));
  });

  test('a write leaves a slot whose rebuild is unfinished to that rebuild', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2, 3, 4, 5]);
    r.disks[0]!.fail();
    const spare = spareOf(r);
    r.power.armCut(1, false);
    expect(() => r.group.replaceAndRebuild(0, spare)).toThrow(PowerLoss);
    r.power.restore();
    const disks = [spare, ...r.disks.slice(1)];
    const group = assemble(r, disks);
    expect(group.failedDisks()).toEqual([0]);
    const spareWrites = spare.writes;
    writeVbns(group, [0, 3], 30);
    expect(spare.writes).toBe(spareWrites);
    expect(group.read(0)).toEqual(blockOf(30));
    expect(group.resyncParity()).toBe(0);
    expect(group.failedDisks()).toEqual([]);
    expect([0, 1, 2, 3, 4, 5].map((v) => group.read(v))).toEqual([30, 2, 3, 33, 5, 6].map((s) => blockOf(s)));
  });

  test('a degraded write that cannot reconstruct a block it keeps refuses, naming the losses, and writes nothing', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[0]!.fail();
    r.disks[1]!.plantLatentError(0);
    const writes = r.disks.map((d) => d.writes);
    expect(() => writeVbns(r.group, [2], 20)).toThrow(
      new RaidFailure(
        'pg: cannot write: stripe 0 (lane 0) has lost pg.d0 (missing), pg.d1 DBN 0 (checksum mismatch), more than RAID-4 can reconstruct',
      ),
    );
    expect(r.disks.map((d) => d.writes)).toEqual(writes);
  });

  test('a disk that dies on a data write or on its label write is skipped; the write goes on degraded', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0]);
    r.disks[1]!.dieOnWrite.add(0);
    writeVbns(r.group, [0, 1, 2], 10);
    expect(r.group.failedDisks()).toEqual([1]);
    expect([0, 1, 2].map((v) => r.group.read(v))).toEqual([10, 11, 12].map((s) => blockOf(s)));
    const s = rig('raid4', 3);
    s.disks[2]!.dieOnWrite.add(s.labelDbn);
    writeVbns(s.group, [0, 1, 2]);
    expect(s.group.failedDisks()).toEqual([2]);
    expect([0, 1, 2].map((v) => s.group.read(v))).toEqual([1, 2, 3].map((v) => blockOf(v)));
  });
});

describe('rebuild', () => {
  test('a rebuild writes each non-zero block of the lost disk once, then its label, and counts them', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[1]!.fail();
    const spare = spareOf(r);
    const { blockWrites, rebuiltBlocks } = r.group.stats;
    r.log.length = 0;
    r.group.replaceAndRebuild(1, spare);
    expect(r.log).toEqual(['spare:0', `spare:${r.labelDbn}`]);
    expect(r.group.stats.rebuiltBlocks).toBe(rebuiltBlocks + 1);
    expect(r.group.stats.blockWrites).toBe(blockWrites + 1);
    expect(labelWords(spare, r.labelDbn)).toEqual([LABEL_MAGIC, 1, 1, 4, STATE_MEMBER]);
    expect(spare.read(0).data).toEqual(blockOf(2));
  });

  test('rebuilding in an unformatted group that holds data formats the survivors first and labels the spare last', () => {
    // Disks written without labels (a group no label shows formatted trusts every disk).
    const r = rig('raid4', 2, 1);
    putBlock(r.disks[0]!, 0, blockOf(1));
    putBlock(r.disks[1]!, 0, blockOf(2));
    putBlock(r.disks[2]!, 0, xorBlocks([blockOf(1), blockOf(2)]));
    const group = assemble(r);
    expect(group.failedDisks()).toEqual([]);
    r.disks[0]!.fail();
    const spare = spareOf(r);
    r.log.length = 0;
    group.replaceAndRebuild(0, spare);
    expect(r.log.filter((w) => w.startsWith('spare:'))).toEqual(['spare:0', `spare:${r.labelDbn}`]);
    for (const i of [1, 2]) expect(labelWords(r.disks[i]!, r.labelDbn)[4]).toBe(STATE_MEMBER);
    const again = assemble(r, [spare, r.disks[1]!, r.disks[2]!]);
    expect(again.failedDisks()).toEqual([]);
    expect(again.read(0)).toEqual(blockOf(1));
  });

  test('a rebuild in a group never written leaves the spare blank and unlabelled', () => {
    const r = rig('raid4', 3);
    r.disks[0]!.fail();
    const spare = spareOf(r);
    r.group.replaceAndRebuild(0, spare);
    expect(spare.blocksStored).toBe(0);
    expect(r.group.failedDisks()).toEqual([]);
    expect(assemble(r, [spare, ...r.disks.slice(1)]).failedDisks()).toEqual([]);
  });

  test('the finish of a rebuild zeroes a block the spare holds in a stripe no survivor holds', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    // A disk put in slot 0 while the server was down: blank label, but a stray block in stripe 1.
    const stray = spareOf(r, 'stray');
    putBlock(stray, 1, blockOf(77));
    const group = assemble(r, [stray, ...r.disks.slice(1)]);
    expect(group.failedDisks()).toEqual([0]);
    group.resyncParity();
    expect(group.failedDisks()).toEqual([]);
    expect(stray.read(1).data).toEqual(ZEROS);
    expect(group.read(3)).toEqual(ZEROS);
    expect(group.read(0)).toEqual(blockOf(1));
  });

  test('RAID-DP: a rebuild with a second disk failed reads only the present disks', () => {
    const r = rig('raid_dp', 3);
    writeVbns(
      r.group,
      Array.from({ length: 12 }, (_, v) => v),
    );
    r.disks[0]!.fail();
    r.disks[1]!.fail();
    const spare = spareOf(r);
    r.group.replaceAndRebuild(0, spare);
    expect(r.group.failedDisks()).toEqual([1]);
    for (let v = 0; v < 12; v++) expect(r.group.read(v)).toEqual(blockOf(v + 1));
  });

  test('RAID-DP: a rebuild that can reconstruct only some blocks of the disk refuses, naming it', () => {
    // Disks 0 and 1 failed and a latent error on (row 0, disk 2): diagonal 0 still gives (row 0,
    // disk 0), but rows 1..3 of disk 0 each share every equation with a second unknown.
    const r = rig('raid_dp', 3, 1);
    writeVbns(
      r.group,
      Array.from({ length: 12 }, (_, v) => v),
    );
    r.disks[0]!.fail();
    r.disks[1]!.fail();
    r.disks[2]!.plantLatentError(0);
    expect(() => r.group.replaceAndRebuild(0, spareOf(r))).toThrow(
      /^pg: cannot rebuild disk 0: stripe 0 \(lane 0\)/,
    );
  });

  test('a spare that fails before its unfinished rebuild is finished stays a failed slot; resync goes on', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[0]!.fail();
    const spare = spareOf(r);
    r.power.armCut(1, false);
    expect(() => r.group.replaceAndRebuild(0, spare)).toThrow(PowerLoss);
    r.power.restore();
    const group = assemble(r, [spare, ...r.disks.slice(1)]);
    expect(group.failedDisks()).toEqual([0]);
    spare.fail();
    expect(group.resyncParity()).toBe(0);
    expect(group.failedDisks()).toEqual([0]);
    expect(group.read(0)).toEqual(blockOf(1));
  });

  test('the unsafeLabelFirst canary labels the spare a member first: a cut in its rebuild leaves it trusted', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[0]!.fail();
    const spare = spareOf(r);
    r.log.length = 0;
    r.power.armCut(1, false);
    expect(() => r.group.replaceAndRebuild(0, spare, { unsafeLabelFirst: true })).toThrow(PowerLoss);
    r.power.restore();
    expect(r.log).toEqual([`spare:${r.labelDbn}`]);
    expect(labelWords(spare, r.labelDbn)).toEqual([LABEL_MAGIC, 1, 0, 4, STATE_MEMBER]);
    // The bug the canary exists for: the half-written (here empty) spare is taken for a member.
    const group = assemble(r, [spare, ...r.disks.slice(1)]);
    expect(group.failedDisks()).toEqual([]);
    expect(group.read(0)).toEqual(ZEROS);
  });

  test('resync finishes unfinished rebuilds in slot order', () => {
    // RAID-DP: slot 3's rebuild was cut before a restart; then disk 1 fails and its rebuild is cut.
    const r = rig('raid_dp', 3, 1);
    writeVbns(
      r.group,
      Array.from({ length: 12 }, (_, v) => v),
    );
    r.disks[3]!.fail();
    const spare3 = spareOf(r, 'spare3');
    r.power.armCut(1, false);
    expect(() => r.group.replaceAndRebuild(3, spare3)).toThrow(PowerLoss);
    r.power.restore();
    const disks = [...r.disks.slice(0, 3), spare3, r.disks[4]!];
    const group = assemble(r, disks);
    expect(group.failedDisks()).toEqual([3]);
    r.disks[1]!.fail();
    const spare1 = spareOf(r, 'spare1');
    r.power.armCut(1, false);
    expect(() => group.replaceAndRebuild(1, spare1)).toThrow(PowerLoss);
    r.power.restore();
    r.log.length = 0;
    group.resyncParity();
    const firstOnSpares = r.log.filter((w) => w.startsWith('spare')).map((w) => w.split(':')[0]);
    expect(firstOnSpares[0]).toBe('spare1');
    expect(firstOnSpares.at(-1)).toBe('spare3');
    expect(group.failedDisks()).toEqual([]);
    for (let v = 0; v < 12; v++) expect(group.read(v)).toEqual(blockOf(v + 1));
  });
});

describe('resync and scrub', () => {
  test('resync rewrites stale parity and counts that stripe; a stripe whose parity is right is left alone', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2, 3, 4, 5]);
    putBlock(r.disks[3]!, 1, blockOf(99));
    const writes = r.disks[3]!.writes;
    expect(r.group.resyncParity()).toBe(1);
    expect(r.disks[3]!.writes).toBe(writes + 1);
    expect(r.disks[3]!.read(1).data).toEqual(xorBlocks([blockOf(4), blockOf(5), blockOf(6)]));
  });

  test('resync rewrites a parity block whose bytes are right but whose stored checksum is not', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    const parity = xorBlocks([blockOf(1), blockOf(2), blockOf(3)]);
    expect(r.disks[3]!.read(0).data).toEqual(parity);
    r.disks[3]!.write(0, parity, checksum(parity) ^ 1);
    expect(r.group.resyncParity()).toBe(1);
    expect(r.disks[3]!.verifies(0)).toBe(true);
  });

  test('a parity disk that dies as resync reads it is skipped; resync goes on', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2, 3, 4, 5]);
    r.disks[3]!.dieOnRead.add(0);
    r.group.resyncParity();
    expect(r.group.failedDisks()).toEqual([3]);
    expect([0, 1, 2, 3, 4, 5].map((v) => r.group.read(v))).toEqual([1, 2, 3, 4, 5, 6].map((s) => blockOf(s)));
  });

  test('resync with a data disk missing leaves every stripe alone and counts none', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2, 3, 4, 5]);
    r.disks[0]!.fail();
    const writes = r.disks.map((d) => d.writes);
    expect(r.group.resyncParity()).toBe(0);
    expect(r.disks.slice(1).map((d, i) => d.writes - writes[i + 1]!)).toEqual([0, 0, 0]);
  });

  test('the unsafeOverMissing canary recomputes parity over a missing data disk as zeros, losing its blocks', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2, 3, 4, 5]);
    r.disks[0]!.fail();
    // Without the option nothing changes (see above); with it both stripes' parity is rewritten.
    expect(r.group.resyncParity({})).toBe(0);
    expect(r.group.read(0)).toEqual(blockOf(1));
    expect(r.group.resyncParity({ unsafeOverMissing: true })).toBe(2);
    expect(r.disks[3]!.read(0).data).toEqual(xorBlocks([blockOf(2), blockOf(3)]));
    expect(r.group.read(0)).toEqual(ZEROS);
    expect(r.group.read(4)).toEqual(blockOf(5));
  });

  test('scrub reads each block of a written stripe once and repairs a latent error', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[1]!.plantLatentError(0);
    const reads = r.group.stats.blockReads;
    expect(r.group.scrub()).toBe(1);
    expect(r.group.stats.blockReads).toBe(reads + 4);
    expect(r.group.stats).toMatchObject({ repairedBlocks: 1, unrepairableBlocks: 0 });
    expect(r.disks[1]!.verifies(0)).toBe(true);
  });

  test('scrub counts a bad block it cannot reconstruct as unrepairable, and leaves it', () => {
    const r = rig('raid4', 3);
    writeVbns(r.group, [0, 1, 2]);
    r.disks[0]!.plantLatentError(0);
    r.disks[1]!.plantLatentError(0);
    expect(r.group.scrub()).toBe(0);
    expect(r.group.stats).toMatchObject({ repairedBlocks: 0, unrepairableBlocks: 2 });
    expect(r.disks[0]!.verifies(0)).toBe(false);
  });
});

// DiskFailed is what a dying FlakyDisk throws; the group must never let it escape.
test('FlakyDisk dies as a Disk does: DiskFailed, and isFailed from then on', () => {
  const d = new FlakyDisk({ id: 'x', blockCount: 2, blockBytes: BLOCK_BYTES });
  d.dieOnRead.add(1);
  expect(d.read(0).data).toEqual(ZEROS);
  expect(() => d.read(1)).toThrow(DiskFailed);
  expect(d.isFailed).toBe(true);
});
