/**
 * Body bytes Node's HTTP parser hands to a message, for server requests and client responses
 * alike, from its first byte: a message without a body gets no property at all (its count reads
 * as undefined, that is 0), and a request queued behind another on its connection is counted as
 * it arrives. No `data` listener, so the app reads its streams as before.
 *
 * Where they are counted: at the parser's body callback. Node keeps a pool of parsers, gives
 * one to each connection, and its C++ parser looks the callback up on the parser object for every
 * body chunk; so a wrapper set on a parser the first time a connection of it is seen (the server
 * recorder's first response on a connection, the client recorder's response head) counts every
 * body chunk from then on, and a request without a body passes through no code of ours. (A
 * wrapper on IncomingMessage.prototype.push did the same for every message, body or not: Node
 * pushes null to end each one; `node bench/overhead/instructions.mjs --cache-sim`, some 80 cycles
 * a request.) Bytes of a body the app left unread (Node drops them) are counted as well: they
 * crossed the wire. Where the parser's body callback cannot be found (a Node.js whose parser
 * differs), the push wrapper is installed instead; it sees only what Node pushes, so there a
 * body the app left unread counts what was read. A parser is set counting at the first response
 * of its connection seen while recording: a request already parsed when recording started
 * (pipelined behind it) counts its body as 0.
 */
import { IncomingMessage } from 'node:http';

/**
 * Shared by every copy of this module in the process (the preload and an app's own, a test
 * runner's registries): Node's parser pool is one per process, and so is the count on a message.
 */
export const RECEIVED_BYTES = Symbol.for('otel-bandwidth.receivedBytes');
/** On a counting wrapper: Node's own callback it calls, so that any copy recognises the wrapper. */
const NODE_CALLBACK = Symbol.for('otel-bandwidth.nodeOnBody');

export interface CountedMessage extends IncomingMessage {
  [RECEIVED_BYTES]?: number;
}

/** Node's HTTPParser, as far as it is used here: callbacks at small integer keys. */
interface NodeParser {
  incoming?: CountedMessage | null;
  [slot: number]: unknown;
}
type BodyCallback = ((this: NodeParser, chunk: Uint8Array) => unknown) & { [NODE_CALLBACK]?: BodyCallback };

/** The key of the parser's body callback; -1 until the first parser is seen, -2 if it has none. */
let bodySlot = -1;
let nodeOnBody: BodyCallback | undefined;

function countingOnBody(this: NodeParser, chunk: Uint8Array): unknown {
  const message = this.incoming;
  if (message !== null && message !== undefined) message[RECEIVED_BYTES] = (message[RECEIVED_BYTES] ?? 0) + chunk.byteLength;
  return (nodeOnBody as BodyCallback).call(this, chunk);
}

function findBodySlot(parser: NodeParser): void {
  for (let i = 0; i < 16; i++) {
    const f = parser[i];
    if (typeof f !== 'function') continue;
    // Node's own, or a wrapper another copy of this module set on this pooled parser
    const original = (f as BodyCallback)[NODE_CALLBACK] ?? (f.name === 'parserOnBody' ? (f as BodyCallback) : undefined);
    if (original !== undefined) {
      bodySlot = i;
      nodeOnBody = original;
      (countingOnBody as BodyCallback)[NODE_CALLBACK] = original;
      return;
    }
  }
  bodySlot = -2;
  countThroughPush();
}

/**
 * Counts the body bytes of the messages `parser` (a connection's `socket.parser`) parses from
 * now on. Cheap to call again for a parser already counting.
 */
export function countParserBodies(parser: unknown): void {
  if (parser === null || typeof parser !== 'object') return;
  const p = parser as NodeParser;
  if (bodySlot === -1) findBodySlot(p);
  if (bodySlot < 0) return;
  // a parser already counting (this copy's wrapper or another's) or carrying someone else's
  // wrapper is left alone
  if (p[bodySlot] === nodeOnBody) p[bodySlot] = countingOnBody;
}

let pushWrapped = false;

/** The fallback: one wrapper on IncomingMessage.prototype.push, for every message. */
function countThroughPush(): void {
  if (pushWrapped) return;
  pushWrapped = true;
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
