/**
 * The newest texts (with a small record each), their bytes kept in one
 * circular buffer outside the JavaScript heap.
 *
 * Why not an array of strings: at 10,000 containers the SSE replay ring
 * takes ~2,000 samples a second and keeps each for about a second, long
 * enough for the garbage collector to move every one into the old
 * generation, where they died in bulk: ~100 MB of garbage between two full
 * collections, most of the aggregator's memory. Bytes copied into a buffer
 * allocated once cost the collector nothing; a reader gets a fresh copy.
 *
 * Texts are written one after another, wrapping to the start when the next
 * one does not fit before the end; the oldest are dropped as the space they
 * hold is needed, or when more than `maxItems` are kept. The kept items
 * always have consecutive ids (a text too large for the whole buffer empties
 * it), so `at(id)` is an index.
 */
export interface RingItem<M> {
  readonly id: number;
  readonly meta: M;
  /** Where the text's UTF-8 bytes are in the buffer. */
  readonly offset: number;
  readonly bytes: number;
}

export class TextRing<M> {
  private buf: Buffer | null = null;
  /** Offset where the next text goes if it fits before the end. */
  private head = 0;
  private readonly items: RingItem<M>[] = [];
  private usedBytes = 0;

  constructor(
    private readonly capacityBytes: number,
    private readonly maxItems: number,
  ) {
    if (!Number.isInteger(capacityBytes) || capacityBytes < 1) throw new RangeError(`ring capacity must be a positive number of bytes, got ${capacityBytes}`);
    if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError(`ring size must be a positive number of items, got ${maxItems}`);
  }

  get size(): number {
    return this.items.length;
  }

  /** UTF-8 bytes of the texts kept. */
  get bytes(): number {
    return this.usedBytes;
  }

  get first(): RingItem<M> | undefined {
    return this.items[0];
  }

  /** The item with this id, if it is still kept. */
  at(id: number): RingItem<M> | undefined {
    const first = this.items[0];
    return first === undefined ? undefined : this.items[id - first.id];
  }

  /** Keeps `text` as item `id` (ids must increase by one, or the ring is emptied first). False when it is larger than the whole buffer: the ring is then empty. */
  push(id: number, meta: M, text: string): boolean {
    const last = this.items.at(-1);
    if (last !== undefined && id !== last.id + 1) this.clear();
    const bytes = Buffer.byteLength(text);
    if (Math.max(bytes, 1) > this.capacityBytes) {
      this.clear();
      return false;
    }
    this.buf ??= Buffer.allocUnsafeSlow(this.capacityBytes);
    // An empty text takes one byte of space, so that every item has a place in the order the oldest are found by.
    const space = Math.max(bytes, 1);
    let start = this.head;
    if (start + space > this.capacityBytes) {
      // The tail from head to the end is given up: what is stored there is the oldest.
      while (this.items[0] !== undefined && this.items[0].offset >= this.head) this.dropOldest();
      start = 0;
    }
    for (let o = this.items[0]; o !== undefined && o.offset < start + space && o.offset + Math.max(o.bytes, 1) > start; o = this.items[0]) this.dropOldest();
    while (this.items.length >= this.maxItems) this.dropOldest();
    this.buf.write(text, start, bytes, 'utf8');
    this.items.push({ id, meta, offset: start, bytes });
    this.usedBytes += bytes;
    this.head = start + space;
    return true;
  }

  /** A copy of the item's text. */
  text(item: RingItem<M>): string {
    return this.buf === null ? '' : this.buf.toString('utf8', item.offset, item.offset + item.bytes);
  }

  clear(): void {
    this.items.length = 0;
    this.usedBytes = 0;
    this.head = 0;
  }

  private dropOldest(): void {
    const o = this.items.shift();
    if (o !== undefined) this.usedBytes -= o.bytes;
    if (this.items.length === 0) this.head = 0;
  }
}
