/**
 * The bytes a body chunk handed to Node's HTTP write()/end() takes on the wire: a string in its
 * encoding (UTF-8 unless one is given), a Uint8Array (Buffer) its length. Shared by the server
 * and client recorders.
 */
export function stringBytes(chunk: string, encoding: unknown): number {
  return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
}

/** Anything else (null, a callback in the chunk's place) is no body: 0. */
export function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return stringBytes(chunk, encoding);
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}
