// Command-line options of the overhead benchmarks: `--flag value` or `--flag=value`, with checked
// numbers. Prints `help` and exits on -h/--help; yields every other option, whose `value()`,
// `num(min)` and `int(min)` take its value.
export function* cliOptions(argv, fail, help) {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') continue;
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(help);
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    const num = (min) => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < min) fail(`${flag} must be a number >= ${min}`);
      return v;
    };
    const int = (min) => {
      const v = num(min);
      if (!Number.isInteger(v)) fail(`${flag} must be a whole number`);
      return v;
    };
    yield { arg, flag, value, num, int };
  }
}
