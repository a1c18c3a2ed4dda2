// Tests of the stripe layout shared by RAID-4 and RAID-DP: the sizes a layout derives, where each VBN
// lives (against the fill order written out as loops), and which stripes a set of DBNs touches.

import { describe, expect, it } from 'vitest';
import { cellDbn, makeLayout, type Place, placeVbn, stripesHolding } from './stripe.ts';

// RAID-DP over 3 data disks: p = 5, 5 columns (3 data, row and diagonal parity), 4 rows.
const DP3 = { columns: 5, dataColumns: 3, rows: 4 };

describe('makeLayout', () => {
  it('derives stripe, unit and VBN sizes, and puts the label on the last block', () => {
    expect(makeLayout(DP3, 2, 20)).toEqual({
      columns: 5,
      dataColumns: 3,
      rows: 4,
      depthBlocks: 2,
      stripeDbns: 8,
      stripeCount: 2,
      unitCells: 20,
      vbnsPerStripe: 24,
      vbnCount: 48,
      labelDbn: 19,
    });
    // Stripes must fit below the label: 17 blocks hold two stripes of 8 and the label, 16 only one.
    expect(makeLayout(DP3, 2, 17).stripeCount).toBe(2);
    expect(makeLayout(DP3, 2, 16).stripeCount).toBe(1);
    expect(makeLayout(DP3, 2, 16).vbnCount).toBe(24);
  });
});

describe('placeVbn', () => {
  it('fills each stripe element by element: depth blocks on one disk, the next disk, then the next row', () => {
    for (const [shape, depth] of [
      [DP3, 2],
      [DP3, 1],
      [{ columns: 4, dataColumns: 3, rows: 1 }, 3],
    ] as const) {
      const layout = makeLayout(shape, depth, 3 * shape.rows * depth + 1);
      let vbn = 0;
      for (let stripe = 0; stripe < layout.stripeCount; stripe++)
        for (let row = 0; row < shape.rows; row++)
          for (let column = 0; column < shape.dataColumns; column++)
            for (let lane = 0; lane < depth; lane++) {
              const cell = row * shape.columns + column;
              const expected: Place = {
                stripe,
                lane,
                cell,
                column,
                dbn: stripe * layout.stripeDbns + row * depth + lane,
              };
              expect(placeVbn(layout, vbn), `vbn ${vbn}`).toEqual(expected);
              expect(cellDbn(layout, stripe, lane, cell)).toBe(expected.dbn);
              vbn++;
            }
      expect(vbn).toBe(layout.vbnCount);
    }
  });

  it('puts every cell of a row, parity columns too, at the same DBN', () => {
    const layout = makeLayout(DP3, 2, 20);
    for (let column = 0; column < DP3.columns; column++) {
      expect(cellDbn(layout, 1, 1, 2 * DP3.columns + column)).toBe(8 + 2 * 2 + 1);
      expect(cellDbn(layout, 0, 0, column)).toBe(0);
    }
  });
});

describe('stripesHolding', () => {
  it('lists the stripes in numeric order, once each, and ignores DBNs past the last whole stripe', () => {
    // Stripes of one DBN each: 20 of them below the label at DBN 20.
    const layout = makeLayout({ columns: 2, dataColumns: 1, rows: 1 }, 1, 21);
    expect(stripesHolding(layout, [12, 3, 10, 2, 2, 19, 20, 25, 1])).toEqual([1, 2, 3, 10, 12, 19]);
    // Stripes of 8 DBNs, two of them: DBN 16 is past them, 19 is the label.
    const dp = makeLayout(DP3, 2, 20);
    expect(stripesHolding(dp, new Set([19, 15, 9, 16, 7, 0]))).toEqual([0, 1]);
    expect(stripesHolding(dp, [])).toEqual([]);
  });
});
