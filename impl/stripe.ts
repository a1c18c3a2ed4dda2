// Stripe layout shared by RAID-4 and RAID-DP: where a VBN lives (disk, DBN) and which DBNs form a
// stripe. Fault model: none here (pure arithmetic). The last block of every disk is its label
// (parity_group.ts), outside every stripe; blocks between the last whole stripe and it are never used.
//
// A stripe spans `rows * depthBlocks` consecutive DBNs on every disk. Its DBNs are split into
// `depthBlocks` lanes; each lane is one unit of the parity code (rows x disks cells, one block each),
// and lanes are independent. VBNs fill a stripe element by element: `depthBlocks` consecutive blocks on
// data disk 0, then on disk 1, ..., then the next row of elements.

export interface StripeLayout {
  readonly columns: number;
  readonly dataColumns: number;
  /** Rows of elements in a stripe (1 for RAID-4, p-1 for RAID-DP). */
  readonly rows: number;
  readonly depthBlocks: number;
  /** DBNs one stripe spans on each disk. */
  readonly stripeDbns: number;
  readonly stripeCount: number;
  /** Cells in one unit (one lane of a stripe): rows * columns. */
  readonly unitCells: number;
  readonly vbnsPerStripe: number;
  readonly vbnCount: number;
  /** The DBN of each disk's label: its last block, past every stripe. */
  readonly labelDbn: number;
}

/** Where one block of a stripe lives. `cell` is its index within its unit: row * columns + column. */
export interface Place {
  readonly stripe: number;
  readonly lane: number;
  readonly cell: number;
  readonly column: number;
  readonly dbn: number;
}

export function makeLayout(
  shape: { columns: number; dataColumns: number; rows: number },
  depthBlocks: number,
  blocksPerDisk: number,
): StripeLayout {
  const stripeDbns = shape.rows * depthBlocks;
  const labelDbn = blocksPerDisk - 1;
  const stripeCount = Math.floor(labelDbn / stripeDbns);
  const vbnsPerStripe = shape.dataColumns * stripeDbns;
  return {
    ...shape,
    depthBlocks,
    stripeDbns,
    stripeCount,
    unitCells: shape.rows * shape.columns,
    vbnsPerStripe,
    vbnCount: stripeCount * vbnsPerStripe,
    labelDbn,
  };
}

export function placeVbn(layout: StripeLayout, vbn: number): Place {
  const { depthBlocks, dataColumns, columns } = layout;
  const stripe = Math.floor(vbn / layout.vbnsPerStripe);
  const offset = vbn % layout.vbnsPerStripe;
  const element = Math.floor(offset / depthBlocks);
  const row = Math.floor(element / dataColumns);
  const column = element % dataColumns;
  const lane = offset % depthBlocks;
  return {
    stripe,
    lane,
    cell: row * columns + column,
    column,
    dbn: cellDbn(layout, stripe, lane, row * columns),
  };
}

/** The DBN of `cell` in unit (stripe, lane), on the cell's own disk. */
export function cellDbn(layout: StripeLayout, stripe: number, lane: number, cell: number): number {
  const row = Math.floor(cell / layout.columns);
  return stripe * layout.stripeDbns + row * layout.depthBlocks + lane;
}

/** The stripes (ascending) that hold any of `dbns`; DBNs past the last whole stripe are ignored. */
export function stripesHolding(layout: StripeLayout, dbns: Iterable<number>): number[] {
  const stripes = new Set<number>();
  for (const dbn of dbns) {
    const stripe = Math.floor(dbn / layout.stripeDbns);
    if (stripe < layout.stripeCount) stripes.add(stripe);
  }
  return [...stripes].sort((a, b) => a - b);
}
