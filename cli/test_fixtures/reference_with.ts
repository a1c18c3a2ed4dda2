// The reference with some of its methods replaced: what each misbehaving fixture target is built from.
// `seen.written` turns true at the first client write, so a fixture can misbehave only after the campaign
// has started driving it (the CLI must then blame the target, not the input). Unreplaced, it is the
// reference exactly: a fixture fails only by what it replaces.

import type { ConformanceTarget, TargetInstance } from '../../harness/target.ts';
import { builtInTarget } from '../../harness/targets.ts';

const reference = builtInTarget('reference')!;

export function referenceWith(
  name: string,
  description: string,
  replace: (instance: TargetInstance, seen: { readonly written: boolean }) => Partial<TargetInstance>,
): ConformanceTarget {
  return {
    name,
    description,
    expected: 'fail',
    boot(spec, media) {
      const instance = reference.boot(spec, media);
      const seen = { written: false };
      const replaced: Partial<TargetInstance> = {
        clientWrite(...args: Parameters<TargetInstance['clientWrite']>): void {
          seen.written = true;
          instance.clientWrite(...args);
        },
        ...replace(instance, seen),
      };
      // Every method not replaced runs on the instance itself, so its state stays in one object (a
      // prototype-chained copy would take the fields its methods assign and split the state in two).
      return new Proxy(instance, {
        get(target, key) {
          if (Object.hasOwn(replaced, key)) return replaced[key as keyof TargetInstance];
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
}
