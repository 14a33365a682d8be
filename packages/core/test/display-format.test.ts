import { formatAge, formatBytes, formatCount } from '@otel-bandwidth/core';

describe('display formats', () => {
  it('bytes in binary units: two decimals below 10 of a unit, one below 100, none above', () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 * 1024 + 1, 500 * 1024, 5 * 1024 ** 3, 3 * 1024 ** 5, -2048].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.00 KiB',
      '1.50 KiB',
      '10.0 MiB',
      '500 KiB',
      '5.00 GiB',
      '3072 TiB',
      '-2.00 KiB',
    ]);
  });

  it('ages in seconds, minutes or hours', () => {
    expect([0, 119.4, 120, 7199, 7200, 12_600].map(formatAge)).toEqual(['0 s', '119 s', '2 min', '120 min', '2.0 h', '3.5 h']);
  });

  it('counts with thousands separated', () => {
    expect([0, 999, 1234567].map(formatCount)).toEqual(['0', '999', '1,234,567']);
  });
});
