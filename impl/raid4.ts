// RAID-4: data disks and one row-parity disk; each parity block is the XOR of its row's data blocks.
// Fault model: survives the loss of any one block per row (a failed disk, or a latent sector error).

import type { Disk } from './disk.ts';
import { makeCode, type ParityCode } from './parity_code.ts';
import { ParityGroup } from './parity_group.ts';
import type { RaidGeometry, RaidGroup } from './raid.ts';

/** The RAID-4 code: one row per unit, so each lane of a stripe is a single row across the disks. */
export function raid4Code(dataDisks: number): ParityCode {
  const members = Array.from({ length: dataDisks }, (_, column) => column);
  return makeCode({ name: 'RAID-4', tolerance: 1, columns: dataDisks + 1, dataColumns: dataDisks, rows: 1 }, [
    { parity: dataDisks, members },
  ]);
}

export function raid4Group(geometry: RaidGeometry, disks: readonly Disk[], label: string): RaidGroup {
  return new ParityGroup(geometry, raid4Code(geometry.dataDisks), disks, label);
}
