// A target that never returns from its first tick: the CLI must end the campaign with one line.

import { referenceWith } from './reference_with.ts';

export const target = referenceWith('hangs', 'loops forever in tick()', () => ({
  tick(): void {
    for (;;) {
      // Never returns.
    }
  },
}));
