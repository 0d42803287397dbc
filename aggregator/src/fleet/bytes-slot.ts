/**
 * A few bytes (a container's latest packed sample), kept in a buffer that
 * is reused while the next value fits: replaced every interval, they cost
 * the garbage collector nothing once the buffer is sized.
 */
export class BytesSlot {
  private buf: Buffer | null = null;
  private length = 0;

  set(bytes: Uint8Array): void {
    const n = bytes.length;
    // A new buffer when the value does not fit, or fills less than half of it (a one-off large sample is not kept for good).
    // The headroom (1/8) absorbs the few bytes by which one container's samples differ.
    if (this.buf === null || n > this.buf.length || n < this.buf.length / 2) {
      this.buf = Buffer.allocUnsafeSlow(n + Math.max(32, n >> 3));
    }
    this.buf.set(bytes, 0);
    this.length = n;
  }

  clear(): void {
    this.buf = null;
    this.length = 0;
  }

  /**
   * Hands the kept bytes to `read` and returns what it returns; null when
   * none are kept. The view is valid only during the call: the next `set`
   * overwrites it.
   */
  read<T>(read: (bytes: Uint8Array) => T): T | null {
    return this.buf === null ? null : read(this.buf.subarray(0, this.length));
  }
}
