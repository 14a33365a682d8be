/**
 * JSON text written straight into a growing Buffer: for a large document whose shape the writer
 * knows (the wire format's body, wire-format.ts), without first building the objects that
 * JSON.stringify would walk, nor the string it would return and a socket would then encode to
 * UTF-8 again.
 *
 * What it writes is what JSON.stringify writes for the same values: strings through
 * JSON.stringify itself, numbers as Number.prototype.toString (so `-0` as `0`), `null` for
 * non-finite numbers. Integers in int32 range, the counts that make up most of the wire format,
 * are written digit by digit, without a string per number.
 */
const COMMA = 0x2c;
const ZERO = 0x30;
const MINUS = 0x2d;
/** Up to this many characters, ascii() copies them itself (bench:exporter: a third faster encode). */
const SHORT_TEXT = 32;
/** Past this many characters, json() measures its text's UTF-8 length. */
const LONG_TEXT = 1024;

export class JsonBytes {
  private buf: Buffer;
  private len = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialBytes));
  }

  get length(): number {
    return this.len;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  /** Text the caller knows to be ASCII (punctuation, keys, numbers' own text), as it is. */
  ascii(text: string): this {
    const n = text.length;
    this.room(n);
    if (n > SHORT_TEXT) {
      this.len += this.buf.write(text, this.len, 'latin1');
      return this;
    }
    // a key or a number's text: copied here rather than through a call into C++ for each
    const buf = this.buf;
    let at = this.len;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.len = at;
    return this;
  }

  /** One ASCII character by its code. */
  byte(code: number): this {
    this.room(1);
    this.buf[this.len++] = code;
    return this;
  }

  comma(): this {
    return this.byte(COMMA);
  }

  /** Text that is already JSON (a cached JSON.stringify), in UTF-8. */
  json(text: string): this {
    // a long text measured rather than reserved at its worst (3 bytes a UTF-16 unit)
    this.room(text.length > LONG_TEXT ? Buffer.byteLength(text) : text.length * 3);
    this.len += this.buf.write(text, this.len, 'utf8');
    return this;
  }

  /** A JSON string: quoted and escaped as JSON.stringify does. */
  string(value: string): this {
    return this.json(JSON.stringify(value));
  }

  /** A JSON number as JSON.stringify writes it (non-finite: null). */
  number(value: number): this {
    if ((value | 0) === value) return this.int32(value | 0);
    return this.ascii(Number.isFinite(value) ? String(value) : 'null');
  }

  private int32(value: number): this {
    this.room(11);
    const buf = this.buf;
    let v = value;
    if (v < 0) {
      buf[this.len++] = MINUS;
      v = -v;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = (t / 10) | 0) digits++;
    let at = this.len + digits;
    this.len = at;
    do {
      const q = (v / 10) | 0;
      buf[--at] = ZERO + v - q * 10;
      v = q;
    } while (v > 0);
    return this;
  }

  /** A JSON array of numbers. */
  numbers(values: readonly number[]): this {
    this.byte(0x5b);
    for (let i = 0; i < values.length; i++) {
      if (i > 0) this.byte(COMMA);
      this.number(values[i] as number);
    }
    return this.byte(0x5d);
  }

  /**
   * What has been written: a view of the writer's buffer, valid until the writer writes again; a
   * copy when more than half the buffer is unused, so that a body held for a while (an export
   * retried through an outage) does not keep twice its size.
   */
  bytes(): Buffer {
    const view = this.buf.subarray(0, this.len);
    return this.buf.length - this.len > this.len ? Buffer.from(view) : view;
  }
}
