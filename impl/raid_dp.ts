// RAID-DP: row-diagonal parity (Corbett et al., FAST 2004), a row-parity and a diagonal-parity disk.
// Fault model: survives any two lost disks, and latent errors as far as rows and diagonals determine them.
//
// For a prime p the code has p-1 data columns (0..p-2), row parity in column p-1 and diagonal parity
// in column p; a unit is p-1 rows. Diagonal d holds the cells (r, c), c in 0..p-1, with
// (r + c) mod p == d; diagonal p-1 is never stored, and the diagonal-parity block of row d is the XOR
// of diagonal d (row parity included). A group with fewer data disks than p-1 pads with imaginary
// all-zero columns that are neither stored nor read. Reconstruction is peeling (parity_code.ts): each
// column misses exactly one diagonal, so with two columns lost some stored diagonal crosses only one
// of them; peeling starts there and alternates diagonal and row along Corbett's chains. A lost parity
// column is re-encoded once the data is known.

import type { Disk } from '../harness/media/disk.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { primeAbove } from '../harness/media/geometry.ts';
import { makeCode, type ParityCode } from './parity_code.ts';
import { ParityGroup } from './parity_group.ts';
import type { RaidGroup } from './raid.ts';

/**
 * The RDP code for `dataDisks` real data disks: columns are data disks, row parity, diagonal parity.
 * Built once per width: a code is a pure function of it, read-only data, and every group shares it
 * (a world boots several groups per schedule).
 */
export function raidDpCode(dataDisks: number): ParityCode {
  let code = codes.get(dataDisks);
  if (code === undefined) {
    code = buildRaidDpCode(dataDisks);
    codes.set(dataDisks, code);
  }
  return code;
}

const codes = new Map<number, ParityCode>();

function buildRaidDpCode(dataDisks: number): ParityCode {
  const p = primeAbove(dataDisks);
  const columns = dataDisks + 2;
  const rowParity = dataDisks;
  // Code column (0..p-1) of each group column that lies on diagonals; imaginary columns have none.
  const onDiagonals = [...Array.from({ length: dataDisks }, (_, c) => ({ column: c, codeColumn: c }))];
  onDiagonals.push({ column: rowParity, codeColumn: p - 1 });
  const rows = p - 1;
  const equations: { parity: number; members: number[] }[] = [];
  for (let r = 0; r < rows; r++) {
    const members = Array.from({ length: dataDisks }, (_, c) => r * columns + c);
    equations.push({ parity: r * columns + rowParity, members });
  }
  for (let d = 0; d < rows; d++) {
    const members: number[] = [];
    for (const { column, codeColumn } of onDiagonals) {
      const r = (((d - codeColumn) % p) + p) % p;
      if (r < rows) members.push(r * columns + column);
    }
    equations.push({ parity: d * columns + rowParity + 1, members });
  }
  return makeCode(
    { name: `RAID-DP (p=${p})`, tolerance: 2, columns, dataColumns: dataDisks, rows },
    equations,
  );
}

export function raidDpGroup(geometry: RaidGeometry, disks: readonly Disk[], label: string): RaidGroup {
  return new ParityGroup(geometry, raidDpCode(geometry.dataDisks), disks, label);
}
