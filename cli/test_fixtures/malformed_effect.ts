// A target that, after the first client write, asks the world to send a message to a node that does not exist.

import type { ConformanceTarget, Effect } from '../../harness/target.ts';
import { builtInTarget } from '../../harness/targets.ts';

const reference = builtInTarget('reference')!;

export const target: ConformanceTarget = {
  name: 'malformed-effect',
  description: "sends a message to 'nowhere' after the first client write",
  expected: 'fail',
  boot(spec, media) {
    const instance = reference.boot(spec, media);
    let written = false;
    return Object.assign(Object.create(instance) as typeof instance, {
      clientWrite(...args: Parameters<typeof instance.clientWrite>): void {
        written = true;
        instance.clientWrite(...args);
      },
      drainEffects(): Effect[] {
        const effects = instance.drainEffects();
        if (!written) return effects;
        return [...effects, { kind: 'send', from: 'src0', to: 'nowhere', bytes: new Uint8Array(4) }];
      },
    });
  },
};
