// A target that never returns from its first tick: the CLI must end the campaign with one line.

import type { ConformanceTarget } from '../../harness/target.ts';
import { builtInTarget } from '../../harness/targets.ts';

const reference = builtInTarget('reference')!;

export const target: ConformanceTarget = {
  name: 'hangs',
  description: 'loops forever in tick()',
  expected: 'fail',
  boot(spec, media) {
    const instance = reference.boot(spec, media);
    return Object.assign(Object.create(instance) as typeof instance, {
      tick(): void {
        for (;;) {
          // Never returns.
        }
      },
    });
  },
};
