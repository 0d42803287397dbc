/**
 * One text, kept as UTF-8 bytes in a buffer that is reused while the next
 * text fits: a container's latest sample JSON, replaced every interval,
 * costs the garbage collector nothing once its buffer is sized. Readers get
 * a fresh string (never a view of the buffer, which the next sample
 * overwrites).
 */
export class TextSlot {
  private buf: Buffer | null = null;
  private length = 0;

  get empty(): boolean {
    return this.buf === null;
  }

  set(text: string): void {
    const bytes = Buffer.byteLength(text);
    // A new buffer when the text does not fit, or fills less than half of it (a one-off large sample is not kept for good).
    // The headroom (1/16) absorbs the few bytes by which one container's samples differ.
    if (this.buf === null || bytes > this.buf.length || bytes < this.buf.length / 2) {
      this.buf = Buffer.allocUnsafeSlow(bytes + Math.max(64, bytes >> 4));
    }
    this.length = this.buf.write(text, 0, 'utf8');
  }

  clear(): void {
    this.buf = null;
    this.length = 0;
  }

  /** The text, or null when none is kept. */
  text(): string | null {
    return this.buf === null ? null : this.buf.toString('utf8', 0, this.length);
  }
}
