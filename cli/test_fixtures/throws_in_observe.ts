// A target whose observe() throws once the first write has arrived: a target-contract verdict.

import type { ConformanceTarget } from '../../harness/target.ts';
import { builtInTarget } from '../../harness/targets.ts';

const reference = builtInTarget('reference')!;

export const target: ConformanceTarget = {
  name: 'throws-in-observe',
  description: 'observe() throws after the first client write',
  expected: 'fail',
  boot(spec, media) {
    const instance = reference.boot(spec, media);
    let written = false;
    return Object.assign(Object.create(instance) as typeof instance, {
      clientWrite(...args: Parameters<typeof instance.clientWrite>): void {
        written = true;
        instance.clientWrite(...args);
      },
      observe() {
        if (written) throw new Error('the console is gone');
        return instance.observe();
      },
    });
  },
};
