// What the harness knows of who heard from whom, without reading a single message: every message is
// numbered when it is sent, and a message from the destination to a source carries (in the harness's
// books, not on the wire) the newest message of that source the destination had received when it sent
// it. Rule A1 needs no more: a source may acknowledge a sync write in sync only once a message the
// destination sent after hearing from the source after that write was accepted has reached the source.

import { DESTINATION, type NodeId } from './target.ts';

export class Causality {
  /** Per source: the highest send number of its messages the destination received while up. */
  private readonly heardByDestination = new Map<NodeId, number>();
  /** Per send number of a destination→source message in flight: what it carries. */
  private readonly carried = new Map<number, number>();
  /** Per source: the highest number carried by a destination message that reached it while up. */
  private readonly knownBySource = new Map<NodeId, number>();

  /** The network numbered a send `id` from `from` to `to` (delivered later, or never). */
  sent(from: NodeId, to: NodeId, id: number): void {
    if (from === DESTINATION) this.carried.set(id, this.heardByDestination.get(to) ?? 0);
  }

  /** Message `id` reached `to`, which was up. A duplicate carries what its original carried. */
  delivered(from: NodeId, to: NodeId, id: number): void {
    if (to === DESTINATION) {
      this.heardByDestination.set(from, Math.max(this.heardByDestination.get(from) ?? 0, id));
      return;
    }
    const carried = this.carried.get(id);
    if (carried !== undefined && from === DESTINATION)
      this.knownBySource.set(to, Math.max(this.knownBySource.get(to) ?? 0, carried));
  }

  /**
   * The newest send number of `source` that the source knows the destination received: a write
   * accepted when the network's last send number was `a` has had a round trip once this exceeds `a`.
   */
  confirmedTo(source: NodeId): number {
    return this.knownBySource.get(source) ?? 0;
  }
}
