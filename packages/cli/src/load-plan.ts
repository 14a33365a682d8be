/**
 * What `otel-bandwidth loadtest` sends: requests named on the command line as
 * `METHOD PATH [@BODY_FILE] [*WEIGHT]`, e.g. `GET /api/products`, `POST /api/orders @order.json *2`.
 * Every mistake is named with the spec it is in.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface PlannedRequest {
  method: string;
  /** path and query, as sent */
  path: string;
  /** the request body, read once from its file */
  body: Buffer | undefined;
  bodyFile: string | undefined;
  /** how often it is picked against the others (default 1) */
  weight: number;
  /** the spec as given, for messages and tables */
  spec: string;
}

/** An HTTP method token (RFC 9110): letters, digits and a few symbols. */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const METHODS_WITHOUT_BODY = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
const MAX_WEIGHT = 1000;

/** Parses one request spec; `cwd` resolves a relative body file. Throws an Error saying what is wrong. */
export function parseRequestSpec(spec: string, cwd: string = process.cwd()): PlannedRequest {
  const words = spec.trim().split(/\s+/).filter((w) => w !== '');
  const where = `--request "${spec}"`;
  if (words.length < 2) throw new Error(`${where}: say a method and a path, for example "GET /api/products"`);
  const [rawMethod, requestPath, ...rest] = words as [string, string, ...string[]];
  if (!METHOD.test(rawMethod)) throw new Error(`${where}: "${rawMethod}" is not an HTTP method`);
  const method = rawMethod.toUpperCase();
  if (!requestPath.startsWith('/')) throw new Error(`${where}: the path must start with "/" (the target's origin comes from --target), got "${requestPath}"`);
  if (/[\u0000-\u0020\u007f]/.test(requestPath)) throw new Error(`${where}: the path holds a control character or space; percent-encode it`);
  let bodyFile: string | undefined;
  let body: Buffer | undefined;
  let weight = 1;
  let weighted = false;
  for (const word of rest) {
    if (word.startsWith('@') && bodyFile === undefined) {
      if (word.length === 1) throw new Error(`${where}: "@" needs a file name, for example @order.json`);
      if (METHODS_WITHOUT_BODY.has(method)) throw new Error(`${where}: a ${method} request is sent without a body; give ${word} to a POST, PUT or PATCH`);
      bodyFile = path.resolve(cwd, word.slice(1));
      try {
        body = fs.readFileSync(bodyFile);
      } catch (err) {
        throw new Error(`${where}: cannot read the body file ${bodyFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    } else if (word.startsWith('*') && !weighted) {
      weight = Number(word.slice(1));
      weighted = true;
      if (!Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) throw new Error(`${where}: the weight ${word} must be * and a whole number from 1 to ${MAX_WEIGHT}`);
    } else {
      throw new Error(`${where}: "${word}" is neither a body file (@file, once) nor a weight (*N, once)`);
    }
  }
  return { method, path: requestPath, body, bodyFile, weight, spec: spec.trim() };
}

/** Parses a header given as `Name: value`. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon < 0 ? '' : text.slice(0, colon).trim();
  if (colon < 0 || !METHOD.test(name)) throw new Error(`--header "${text}": write it as "Name: value"`);
  const lower = name.toLowerCase();
  if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'host' || lower === 'connection') {
    throw new Error(`--header "${text}": ${name} is set by the load test itself`);
  }
  return [name, text.slice(colon + 1).trim()];
}
