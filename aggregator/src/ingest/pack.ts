import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { payloadSchema } from '../../../shared/src/payload.js';

/**
 * Samples as the fleet keeps them between routes that need one in full:
 * deflated with a dictionary holding every field name of the payload in
 * schema order. A 4.4 kB sample shrinks to a few hundred bytes (its numbers;
 * the names come from the dictionary), so 10,000 containers' latest samples
 * take a few MB instead of ~45 MB. The ingest thread packs (~30-60 µs, off
 * the main thread); routes unpack the one they need (~10-30 µs).
 */

type JsonSchemaNode = {
  $ref?: string;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  enum?: unknown[];
  const?: unknown;
};

/** A value of the shape the schema describes: every key, the first choice of every union, one element per list. */
function skeleton(node: JsonSchemaNode, defs: Record<string, JsonSchemaNode>, depth = 0): unknown {
  if (depth > 20) return null;
  if (node.$ref !== undefined) {
    const target = defs[node.$ref.replace(/^#\/\$defs\//, '')];
    return target === undefined ? null : skeleton(target, defs, depth + 1);
  }
  const choices = node.anyOf ?? node.oneOf;
  if (choices !== undefined) {
    const first = choices.find((c) => c.type !== 'null') ?? choices[0];
    return first === undefined ? null : skeleton(first, defs, depth + 1);
  }
  if (node.const !== undefined) return node.const;
  if (node.enum !== undefined) return node.enum[0] ?? null;
  const type = Array.isArray(node.type) ? node.type.find((t) => t !== 'null') : node.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(node.properties ?? {}).map(([k, v]) => [k, skeleton(v, defs, depth + 1)]));
    case 'array':
      return node.items === undefined ? [] : [skeleton(node.items, defs, depth + 1)];
    case 'string':
      return '';
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function buildDictionary(): Buffer {
  const js = z.toJSONSchema(payloadSchema, { unrepresentable: 'any', io: 'output' }) as JsonSchemaNode & { $defs?: Record<string, JsonSchemaNode> };
  return Buffer.from(JSON.stringify(skeleton(js, js.$defs ?? {})));
}

/** Built from the schema at start-up, the same on both threads (they run the same build). */
export const PACK_DICTIONARY: Buffer = buildDictionary();

/**
 * Fast (level 1); an 8 KiB window, which reaches the ~4 KiB dictionary from
 * anywhere in a sample; and a small hash table: ~40 KiB of zlib state per
 * call instead of the default ~256 KiB, for the same output.
 */
const PACK_OPTIONS = { level: 1, dictionary: PACK_DICTIONARY, windowBits: 13, memLevel: 4 } as const;

/**
 * The packed bytes in an array of their own: zlib hands back a view of a
 * larger (16 KiB) buffer, and a view posted to another thread takes its
 * whole buffer with it (~16 KiB a sample, 30 MB/s of garbage at 10,000
 * containers).
 */
export function packSample(json: string): Uint8Array {
  return new Uint8Array(deflateRawSync(json, PACK_OPTIONS));
}

/** The JSON packed by `packSample`. Throws on bytes that are not its output (they never come from outside the process). */
export function unpackSample(packed: Uint8Array): string {
  return inflateRawSync(packed, { dictionary: PACK_DICTIONARY, windowBits: PACK_OPTIONS.windowBits }).toString('utf8');
}
