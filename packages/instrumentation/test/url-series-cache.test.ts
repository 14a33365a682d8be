import { SeriesRecord } from '../src/series-table';
import { urlHash } from '../src/url-hash';
import { UrlSeriesCache } from '../src/url-series-cache';

const record = (route: string): SeriesRecord => new SeriesRecord({ 'http.route': route });

describe('urlHash', () => {
  it('tells apart URLs that differ in one character anywhere', () => {
    const slots = new Set<number>();
    for (let i = 0; i < 1990; i++) slots.add(urlHash(`/routes/r${i}`) & 8191);
    // 1,990 URLs over 8,192 slots: a random hash would leave about 1,990 * (1 - 1990 / 16384) ≈ 1,750 distinct
    expect(slots.size).toBe(1904);
    const middle = new Set<number>();
    for (let i = 0; i < 1000; i++) middle.add(urlHash(`/users/${i}/orders`) & 8191);
    expect(middle.size).toBe(949);
    // the normaliser's 512 slots: a hash of the length and two characters put these 1,990 in about 40
    const front = new Set<number>();
    for (let i = 0; i < 1990; i++) front.add(urlHash(`/routes/r${i}`) & 511);
    expect(front.size).toBe(497);
  });
});

describe('UrlSeriesCache', () => {
  it('finds a URL only under the code and epoch it was remembered with', () => {
    const cache = new UrlSeriesCache();
    const a = record('/a');
    const entry = cache.remember('/a?x=1', 200, 7, a);
    expect(cache.find('/a?x=1', 200, 7)).toBe(entry);
    expect(entry.series).toBe(a);
    // a URL string made afresh, as each request's is
    expect(cache.find(['/a', 'x=1'].join('?'), 200, 7)?.series).toBe(a);
    expect(cache.find('/a?x=1', 404, 7)).toBeUndefined();
    expect(cache.find('/a?x=1', 200, 8)).toBeUndefined();
    expect(cache.find('/a?x=2', 200, 7)).toBeUndefined();
  });

  it('keeps one entry per URL, updated in place', () => {
    const cache = new UrlSeriesCache();
    const first = cache.remember('/a', 200, 1, record('/a'));
    const notFound = record('(unmatched)');
    const again = cache.remember('/a', 404, 1, notFound);
    expect(again).toBe(first);
    expect(cache.find('/a', 404, 1)?.series).toBe(notFound);
    expect(cache.find('/a', 200, 1)).toBeUndefined();
  });

  it('finds every URL that shares a slot with others', () => {
    const cache = new UrlSeriesCache();
    // URLs in one slot of 8,192 probe past each other
    const target = urlHash('/same') & 8191;
    const urls = ['/same'];
    for (let i = 0; urls.length < 5; i++) if ((urlHash(`/u${i}`) & 8191) === target) urls.push(`/u${i}`);
    const records = urls.map((u) => record(u));
    urls.forEach((u, i) => cache.remember(u, 200, 1, records[i] as SeriesRecord));
    urls.forEach((u, i) => expect(cache.find(u, 200, 1)?.series).toBe(records[i]));
  });

  it('starts afresh when half its 8,192 slots are taken, and keeps answering', () => {
    const cache = new UrlSeriesCache();
    for (let i = 0; i < 4096; i++) cache.remember(`/p${i}`, 200, 1, record(`/p${i}`));
    expect(cache.find('/p0', 200, 1)?.series.attributes['http.route']).toBe('/p0');
    expect(cache.find('/p4095', 200, 1)?.series.attributes['http.route']).toBe('/p4095');
    cache.remember('/p4096', 200, 1, record('/p4096'));
    expect(cache.find('/p0', 200, 1)).toBeUndefined();
    expect(cache.find('/p4096', 200, 1)?.series.attributes['http.route']).toBe('/p4096');
  });

  it('keeps no URL longer than 256 characters, and still hands back an entry for it', () => {
    const cache = new UrlSeriesCache();
    const long = `/${'a'.repeat(300)}`;
    const entry = cache.remember(long, 200, 1, record('/long'));
    expect(entry.url).toBe(long);
    expect(cache.find(long, 200, 1)).toBeUndefined();
  });
});
