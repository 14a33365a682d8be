import { JsonBytes } from '../src/json-bytes';

describe('JsonBytes', () => {
  it('grows its buffer and writes what JSON.stringify writes', () => {
    const numbers = Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? -i : i % 5 === 0 ? i / 3 : i * 104729));
    const out = new JsonBytes(16);
    out.byte(0x7b).ascii('"n":').numbers(numbers).comma().string('k"é😀').ascii(':').number(-0).comma().json('{"x":[1,null]}').ascii(':').number(Number.POSITIVE_INFINITY).byte(0x7d);
    const text = out.bytes().toString('utf8');
    expect(text).toBe(`{"n":${JSON.stringify(numbers)},${JSON.stringify('k"é😀')}:0,{"x":[1,null]}:null}`);
    expect(out.length).toBe(Buffer.byteLength(text));
  });
});
