// Self costs per function in a callgrind dump, with V8's generated code named.
//
// Callgrind knows C++ functions by their symbols, but JavaScript compiled by V8 has none: its
// costs are filed under bare addresses ("0x000000000d0a87c0"). Node started with
// --perf-basic-prof writes /tmp/perf-<pid>.map, a line per piece of generated code ("start size
// name", hex), and --no-compact-code-space keeps that code where the map says it is. Under
// valgrind the server keeps its own pid, so the dump's addresses can be named from its map.

/**
 * Every function's self cost in a dump, summed over its cost lines: a Map from the function's name
 * to its counts by event name (Ir, I1mr, ...). Callgrind compresses names ("fn=(12) name" the first
 * time, "fn=(12)" after), and a cost line right after "calls=" is the call's inclusive cost, not
 * the caller's own, so it is skipped.
 */
export function selfCosts(text) {
  const events = (/^events: (.+)$/m.exec(text)?.[1] ?? '').trim().split(/\s+/);
  const names = new Map();
  const byFunction = new Map();
  let current;
  let afterCalls = false;
  for (const line of text.split('\n')) {
    const fn = /^(c?)fn=\((\d+)\)(?: (.*))?$/.exec(line);
    if (fn) {
      if (fn[3] !== undefined) names.set(fn[2], fn[3]);
      if (fn[1] === '') {
        const name = names.get(fn[2]) ?? fn[2];
        current = byFunction.get(name);
        if (current === undefined) {
          current = new Array(events.length).fill(0);
          byFunction.set(name, current);
        }
        afterCalls = false;
      }
      continue;
    }
    if (line.startsWith('calls=')) {
      afterCalls = true;
      continue;
    }
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      if (afterCalls) afterCalls = false;
      else if (current !== undefined) {
        const values = line.split(' ');
        for (let i = 1; i < values.length && i <= events.length; i++) current[i - 1] += Number(values[i]);
      }
    }
  }
  return new Map([...byFunction].map(([name, values]) => [name, Object.fromEntries(events.map((e, i) => [e, values[i]]))]));
}

/** A perf map's entries, sorted by address, for nameCode(). */
export function readPerfMap(text) {
  const entries = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) entries.push({ start: parseInt(m[1], 16), end: parseInt(m[1], 16) + parseInt(m[2], 16), name: m[3] });
  }
  return entries.sort((a, b) => a.start - b.start);
}

/**
 * A function's name from a dump, an address named from the perf map: "record file.js:163:16"
 * rather than "0x...", without V8's tier marks ("JS:*", "LazyCompile:~", ...). Code the map does
 * not hold keeps its address.
 */
export function nameCode(name, perfMap) {
  const m = /^0x([0-9a-f]+)/.exec(name);
  if (!m) return name;
  const address = parseInt(m[1], 16);
  let lo = 0;
  let hi = perfMap.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = perfMap[mid];
    if (address < e.start) hi = mid - 1;
    else if (address >= e.end) lo = mid + 1;
    else return e.name.replace(/^(?:JS|LazyCompile|Function|Builtin|BytecodeHandler|RegExp|Script|Eval):[*~^+]?/, '');
  }
  return name;
}
