// A target whose observation, once a write has arrived, names a relationship state that does not exist.

import type { Observation } from '../../harness/target.ts';
import { referenceWith } from './reference_with.ts';

export const target = referenceWith(
  'malformed-observation',
  "observe() shows relationship 'sideways' after the first client write",
  (instance, seen) => ({
    observe(): Observation {
      const o = instance.observe();
      if (!seen.written) return o;
      const src0 = {
        ...o.sources.src0!,
        relationship: 'sideways',
      } as unknown as Observation['sources'][string];
      return { ...o, sources: { ...o.sources, src0 } };
    },
  }),
);
