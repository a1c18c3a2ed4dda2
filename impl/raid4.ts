// RAID-4: data disks and one row-parity disk; each parity block is the XOR of its row's data blocks.
// Fault model: survives the loss of any one block per row (a failed disk, or a latent sector error).

import type { Disk } from '../harness/media/disk.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { makeCode, type ParityCode } from './parity_code.ts';
import { ParityGroup } from './parity_group.ts';
import type { RaidGroup } from './raid.ts';

/**
 * The RAID-4 code: one row per unit, so each lane of a stripe is a single row across the disks. Built
 * once per width: a code is a pure function of it and read-only data that every group may share.
 */
export function raid4Code(dataDisks: number): ParityCode {
  let code = codes.get(dataDisks);
  if (code === undefined) {
    const members = Array.from({ length: dataDisks }, (_, column) => column);
    code = makeCode(
      { name: 'RAID-4', tolerance: 1, columns: dataDisks + 1, dataColumns: dataDisks, rows: 1 },
      [{ parity: dataDisks, members }],
    );
    codes.set(dataDisks, code);
  }
  return code;
}

const codes = new Map<number, ParityCode>();

export function raid4Group(geometry: RaidGeometry, disks: readonly Disk[], label: string): RaidGroup {
  return new ParityGroup(geometry, raid4Code(geometry.dataDisks), disks, label);
}
