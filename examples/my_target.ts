// A user's conformance target, as a starting point: every method of the interface, each forwarding to
// the reference implementation. Replace the forwarding with calls into your own servers, then run
//   npx cpsync check --target ./examples/my_target.ts --runs 200 --swarm
// The harness owns the media (disks, NVRAM, power) and the network: a target keeps its state on the
// media it is handed, does no I/O, and returns what it wants sent or acknowledged as effects.

import type { Disk } from '../harness/media/disk.ts';
import type {
  ClientWrite,
  ConformanceTarget,
  Effect,
  NodeId,
  NodeMedia,
  Observation,
  ReadResult,
  TargetInstance,
  WorldSpec,
} from '../harness/target.ts';
import { referenceTarget } from '../impl/reference_target.ts';

class MyServers implements TargetInstance {
  private readonly inner: TargetInstance;

  constructor(spec: WorldSpec, media: Readonly<Record<NodeId, NodeMedia>>) {
    // Format the blank media and start one server per node ('src0', 'src1', ... and 'dst').
    this.inner = referenceTarget().boot(spec, media);
  }

  // Inputs: a client request, a message the network delivers, a tick of one node's clock.
  clientWrite(source: NodeId, write: ClientWrite): void {
    this.inner.clientWrite(source, write);
  }
  clientRead(source: NodeId, lba: number): ReadResult {
    return this.inner.clientRead(source, lba);
  }
  receive(to: NodeId, from: NodeId, bytes: Uint8Array): void {
    this.inner.receive(to, from, bytes);
  }
  tick(node: NodeId): void {
    this.inner.tick(node);
  }
  /** Messages to send and client acknowledgements, in the order they were produced. */
  drainEffects(): Effect[] {
    return this.inner.drainEffects();
  }

  // Faults and the operator. A power cut shows up as a PowerLoss thrown by a media write.
  crash(node: NodeId): void {
    this.inner.crash(node);
  }
  restart(node: NodeId): void {
    this.inner.restart(node);
  }
  failover(source: NodeId): void {
    this.inner.failover(source);
  }
  replaceDisk(node: NodeId, group: string, index: number, spare: Disk): void {
    this.inner.replaceDisk(node, group, index, spare);
  }

  // What the harness and the model compare after every step.
  observe(): Observation {
    return this.inner.observe();
  }
  readPrimaryCommitted(source: NodeId, lba: number): Uint8Array {
    return this.inner.readPrimaryCommitted(source, lba);
  }
  readMirrorCommitted(source: NodeId, lba: number): Uint8Array {
    return this.inner.readMirrorCommitted(source, lba);
  }
  liveVbns(source: NodeId, side: 'primary' | 'mirror'): number[] {
    return this.inner.liveVbns(source, side);
  }
  readVbn(source: NodeId, side: 'primary' | 'mirror', vbn: number): Uint8Array {
    return this.inner.readVbn(source, side, vbn);
  }
  logFile(source: NodeId) {
    return this.inner.logFile(source);
  }
}

export const target: ConformanceTarget = {
  name: 'my-mirror',
  description: 'a template: the reference implementation behind every method of the interface',
  expected: 'pass',
  boot: (spec, media) => new MyServers(spec, media),
};
