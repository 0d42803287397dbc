/**
 * Splits a text stream into lines across chunk boundaries. A line longer
 * than `maxLine` is dropped whole (`overflowed` is set; the caller reports
 * it and clears the flag), so a hostile stream cannot grow the buffer.
 */
export class LineSplitter {
  private rest = '';
  private skipping = false;
  overflowed = false;

  constructor(private readonly maxLine: number) {}

  push(chunk: string): string[] {
    const out: string[] = [];
    let text = this.rest + chunk;
    this.rest = '';
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (this.skipping) {
        // The end of a line already dropped for its length.
        this.skipping = false;
        continue;
      }
      if (line.length > this.maxLine) this.overflowed = true;
      else out.push(line);
    }
    if (text.length > this.maxLine) {
      this.overflowed = true;
      this.skipping = true;
    } else if (!this.skipping) {
      this.rest = text;
    }
    return out;
  }
}
