/**
 * One wrapper on IncomingMessage.prototype.push counts the body bytes Node's parser hands to a
 * message, for server requests and client responses alike, from its first byte: a message
 * without a body gets no property at all (its count reads as undefined, that is 0), and a request
 * queued behind another on its connection is counted before its response is started. No `data`
 * listener, so the app reads its streams as before.
 */
import { IncomingMessage } from 'node:http';

export const RECEIVED_BYTES = Symbol('otel-bandwidth.receivedBytes');

export interface CountedMessage extends IncomingMessage {
  [RECEIVED_BYTES]?: number;
}

let installed = false;

export function countReceivedBytes(): void {
  if (installed) return;
  installed = true;
  const proto = IncomingMessage.prototype as CountedMessage;
  const push = proto.push;
  proto.push = function (this: CountedMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    const n = this[RECEIVED_BYTES];
    if (chunk !== null && chunk !== undefined) {
      this[RECEIVED_BYTES] = (n ?? 0) + (typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding ?? 'utf8') : (chunk as Uint8Array).byteLength);
    }
    return push.call(this, chunk, encoding);
  };
}
