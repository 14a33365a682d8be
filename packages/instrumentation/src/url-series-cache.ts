import type { SeriesRecord } from './series-table';
import { urlHash } from './url-hash';

/** One URL's series, for one series code under one table epoch. */
export class UrlSeriesEntry {
  constructor(
    readonly url: string,
    public code: number,
    public epoch: number,
    public series: SeriesRecord,
  ) {}
}

/** Slots of the table: a power of two, twice the entries it holds at most. */
const SLOTS = 8192;
const MASK = SLOTS - 1;
const MAX_ENTRIES = SLOTS / 2;
/** Longer URLs take the route and series lookups every time rather than a slot each. */
const MAX_URL_LENGTH = 256;

/**
 * The series of requests by their URL, for requests whose route is their URL's (no framework or
 * OpenTelemetry route): one lookup in place of three (the normaliser's URL cache, the series
 * table's route Map, the route's series by code). It serves the requests a connection's last
 * series does not (SocketState.last in http-server-recorder.ts): a service with many URLs,
 * whose clients do not repeat their last request. Measured on the benchmark's routes handler,
 * 1,990 URLs taken in turn (`node bench/overhead/instructions.mjs --handlers routes`): see
 * bench/README.md, "At a full table of series".
 *
 * Open addressing with linear probing over a fixed array, half full at most: when it fills, it
 * is emptied and fills again with the URLs that come back, like the normaliser's cache. An entry
 * is good for one series code (status, method, protocol) and one epoch of the table: a drain may
 * free a series or give room to one it had folded into overflow, so entries of an older epoch
 * are looked up afresh.
 */
export class UrlSeriesCache {
  private entries: Array<UrlSeriesEntry | undefined> = new Array<UrlSeriesEntry | undefined>(SLOTS).fill(undefined);
  private size = 0;
  /**
   * Where find() last stopped without an answer: remember() for the same URL, which follows a
   * miss, starts there rather than hashing and probing again (under a flood of one-off URLs,
   * every request).
   */
  private missedUrl = '';
  private missedSlot = 0;

  /** The slot holding `url`, else the empty one where its probe ends. */
  private slotOf(url: string): number {
    const entries = this.entries;
    let slot = urlHash(url) & MASK;
    for (;;) {
      const entry = entries[slot];
      if (entry === undefined || entry.url === url) return slot;
      slot = (slot + 1) & MASK;
    }
  }

  /** The entry of `url` if it holds its series under `code` and `epoch`. */
  find(url: string, code: number, epoch: number): UrlSeriesEntry | undefined {
    if (url.length > MAX_URL_LENGTH) return undefined;
    const slot = this.slotOf(url);
    const entry = this.entries[slot];
    if (entry !== undefined && entry.code === code && entry.epoch === epoch) return entry;
    this.missedUrl = url;
    this.missedSlot = slot;
    return undefined;
  }

  /**
   * Remembers the series of `url` under `code` and `epoch`, in place of what it had, and returns
   * its entry (for a URL too long to keep, an entry of its own outside the table).
   */
  remember(url: string, code: number, epoch: number, series: SeriesRecord): UrlSeriesEntry {
    if (url.length > MAX_URL_LENGTH) return new UrlSeriesEntry(url, code, epoch, series);
    let slot = this.missedSlot;
    let held = this.entries[slot];
    if (url !== this.missedUrl || (held !== undefined && held.url !== url)) {
      slot = this.slotOf(url);
      held = this.entries[slot];
    }
    this.missedUrl = '';
    if (held !== undefined) {
      held.code = code;
      held.epoch = epoch;
      held.series = series;
      return held;
    }
    if (this.size >= MAX_ENTRIES) {
      this.entries = new Array<UrlSeriesEntry | undefined>(SLOTS).fill(undefined);
      this.size = 0;
      slot = this.slotOf(url);
    }
    const entry = new UrlSeriesEntry(url, code, epoch, series);
    this.entries[slot] = entry;
    this.size++;
    return entry;
  }
}
