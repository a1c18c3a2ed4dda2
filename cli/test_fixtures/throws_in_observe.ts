// A target whose observe() throws once the first write has arrived: a target-contract verdict.

import { referenceWith } from './reference_with.ts';

export const target = referenceWith(
  'throws-in-observe',
  'observe() throws after the first client write',
  (instance, seen) => ({
    observe() {
      if (seen.written) throw new Error('the console is gone');
      return instance.observe();
    },
  }),
);
