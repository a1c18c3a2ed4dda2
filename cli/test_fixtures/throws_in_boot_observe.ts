// A target whose observe() always throws, from the very first observation after boot.

import { referenceWith } from './reference_with.ts';

export const target = referenceWith('never-observable', 'observe() always throws', () => ({
  observe(): never {
    throw new Error('no console');
  },
}));
