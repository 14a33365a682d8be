import { ConfigError, EnvReader } from '@otel-bandwidth/core';

describe('EnvReader', () => {
  it('reads values and falls back to defaults', () => {
    const r = new EnvReader({ A: '42', B: ' yes ', C: 'redis://h:1', E: '' });
    expect(r.int('A', 1)).toBe(42);
    expect(r.bool('B', false)).toBe(true);
    expect(r.url('C', 'redis://x', ['redis'])).toBe('redis://h:1');
    expect(r.string('D', 'dflt')).toBe('dflt');
    expect(r.optionalString('E')).toBeUndefined();
    expect(() => r.done()).not.toThrow();
  });

  it('reports every bad variable at once, naming value and expectation', () => {
    const r = new EnvReader({ N: 'ten', M: '0', U: 'http://x', P: 'mysql://root:secret@h/db', B: 'perhaps' });
    r.int('N', 1, { min: 1 });
    r.int('M', 1, { min: 1, max: 5 });
    r.url('U', 'redis://127.0.0.1:6379', ['redis', 'rediss']);
    r.url('P', 'redis://127.0.0.1:6379', ['redis']);
    r.bool('B', true);
    let error: ConfigError | undefined;
    try {
      r.done();
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.problems).toEqual([
      'N="ten" is not a whole number (expected at least 1)',
      'M=0 is out of range (expected 1 to 5)',
      'U="http://x" has scheme "http:", expected redis: or rediss:',
      'P="mysql://root:***@h/db" has scheme "mysql:", expected redis:',
      'B="perhaps" is not a boolean (use true or false)',
    ]);
  });

  it('reads an optional whole number: undefined when unset or blank, refused by name when bad', () => {
    const r = new EnvReader({ SET: '9464', BLANK: ' ', WORD: 'ninety', BIG: '70000' });
    expect(r.optionalInt('SET', { min: 0, max: 65535 })).toBe(9464);
    expect(r.optionalInt('UNSET', { min: 0, max: 65535 })).toBeUndefined();
    expect(r.optionalInt('BLANK', { min: 0, max: 65535 })).toBeUndefined();
    expect(r.hasProblems()).toBe(false);
    expect(r.optionalInt('WORD', { min: 0, max: 65535 })).toBeUndefined();
    expect(r.optionalInt('BIG', { min: 0, max: 65535 })).toBeUndefined();
    expect(() => r.done()).toThrow('invalid configuration:\n  - WORD="ninety" is not a whole number (expected 0 to 65535)\n  - BIG=70000 is out of range (expected 0 to 65535)');
  });

  it('reads the key prefix, refusing braces: the prefix is the hash tag of every key', () => {
    expect(new EnvReader({}).keyPrefix()).toBe('otel-bandwidth');
    expect(new EnvReader({ OTEL_BANDWIDTH_KEY_PREFIX: 'shop' }).keyPrefix()).toBe('shop');
    const r = new EnvReader({ OTEL_BANDWIDTH_KEY_PREFIX: 'a{b}' });
    r.keyPrefix();
    expect(() => r.done()).toThrow('OTEL_BANDWIDTH_KEY_PREFIX="a{b}" must not contain { or } (it becomes the keys\' hash tag {a{b}})');
  });
});
