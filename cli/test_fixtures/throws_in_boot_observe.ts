// A target whose observe() always throws, from the very first observation after boot.

import type { ConformanceTarget } from '../../harness/target.ts';
import { builtInTarget } from '../../harness/targets.ts';

const reference = builtInTarget('reference')!;

export const target: ConformanceTarget = {
  name: 'never-observable',
  description: 'observe() always throws',
  expected: 'fail',
  boot(spec, media) {
    const instance = reference.boot(spec, media);
    return Object.assign(Object.create(instance) as typeof instance, {
      observe(): never {
        throw new Error('no console');
      },
    });
  },
};
