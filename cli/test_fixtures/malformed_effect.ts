// A target that, after the first client write, asks the world to send a message to a node that does not exist.

import type { Effect } from '../../harness/target.ts';
import { referenceWith } from './reference_with.ts';

export const target = referenceWith(
  'malformed-effect',
  "sends a message to 'nowhere' after the first client write",
  (instance, seen) => ({
    drainEffects(): Effect[] {
      const effects = instance.drainEffects();
      if (!seen.written) return effects;
      return [...effects, { kind: 'send', from: 'src0', to: 'nowhere', bytes: new Uint8Array(4) }];
    },
  }),
);
