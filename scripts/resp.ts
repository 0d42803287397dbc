/** Commands in RESP, the bytes a Valkey client writes: for the benchmarks' floors, which send them without a client library. */
export function encodeCommand(args: readonly (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Several commands back to back, as one pipeline's bytes. */
export function encodeCommands(commands: readonly (readonly (string | number | Buffer)[])[]): Buffer {
  return Buffer.concat(commands.map(encodeCommand));
}
