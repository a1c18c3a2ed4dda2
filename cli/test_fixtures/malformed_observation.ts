// A target whose observation, once a write has arrived, names a relationship state that does not exist.

import type { ConformanceTarget, Observation } from '../../harness/target.ts';
import { builtInTarget } from '../../harness/targets.ts';

const reference = builtInTarget('reference')!;

export const target: ConformanceTarget = {
  name: 'malformed-observation',
  description: "observe() shows relationship 'sideways' after the first client write",
  expected: 'fail',
  boot(spec, media) {
    const instance = reference.boot(spec, media);
    let written = false;
    return Object.assign(Object.create(instance) as typeof instance, {
      clientWrite(...args: Parameters<typeof instance.clientWrite>): void {
        written = true;
        instance.clientWrite(...args);
      },
      observe(): Observation {
        const o = instance.observe();
        if (!written) return o;
        const src0 = {
          ...o.sources.src0!,
          relationship: 'sideways',
        } as unknown as Observation['sources'][string];
        return { ...o, sources: { ...o.sources, src0 } };
      },
    });
  },
};
