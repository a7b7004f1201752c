/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for the metrics tests: it throws on
 * anything a scraper could misread, rather than skipping it.
 *
 * Checked: every family has exactly one `# HELP` and one `# TYPE` (gauge, counter, histogram, summary,
 * untyped), both before its first sample; a family's samples form one group; metric and label names are
 * valid; label values are quoted with only `\\`, `\"` and `\n` escapes; no label name twice in a series and
 * no series twice; values are floats (or ±Inf, NaN); counters are finite and non-negative; a histogram's
 * series have `_bucket` lines with `le` in increasing order ending at `+Inf`, cumulative (never decreasing),
 * `+Inf` equal to `_count`, and a `_sum`; summaries have `_sum` and `_count`.
 */

export type MetricType = 'gauge' | 'counter' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: PromSample[];
}

export interface Exposition {
  readonly families: ReadonlyMap<string, PromFamily>;
  /** The one sample with this name and exactly these labels (throws when there is none). */
  value(name: string, labels?: Record<string, string>): number;
  /** Samples of a name whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly MetricType[] = ['gauge', 'counter', 'histogram', 'summary', 'untyped'];

export function parsePrometheus(text: string): Exposition {
  const families = new Map<string, { name: string; help?: string; type?: MetricType; samples: PromSample[]; closed: boolean }>();
  const series = new Set<string>();
  let current: string | null = null;
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('the exposition must end with a newline');
  lines.pop();

  const family = (name: string, lineNo: number) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [], closed: false }));
    if (f.closed) throw new Error(`line ${lineNo}: family ${name} appears again after other families (its lines must form one group)`);
    if (current !== null && current !== name) {
      const previous = families.get(current);
      if (previous) previous.closed = true;
    }
    current = name;
    return f;
  };

  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`line ${lineNo}: invalid metric name ${JSON.stringify(name)}`);
      const f = family(name, lineNo);
      if (f.samples.length > 0) throw new Error(`line ${lineNo}: # ${kind} for ${name} after its samples`);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${lineNo}: second # HELP for ${name}`);
        f.help = unescapeHelp(rest, lineNo);
      } else {
        if (f.type !== undefined) throw new Error(`line ${lineNo}: second # TYPE for ${name}`);
        if (!TYPES.includes(rest as MetricType)) throw new Error(`line ${lineNo}: unknown type ${JSON.stringify(rest)} for ${name}`);
        f.type = rest as MetricType;
      }
      return;
    }
    const sample = parseSample(line, lineNo);
    const owner = current !== null && belongsTo(sample.name, current, families.get(current)?.type) ? current : sample.name;
    const f = family(owner, lineNo);
    if (f.help === undefined || f.type === undefined) throw new Error(`line ${lineNo}: sample of ${owner} before its # HELP and # TYPE`);
    if (!belongsTo(sample.name, owner, f.type)) throw new Error(`line ${lineNo}: ${sample.name} is not a sample name of ${f.type} ${owner}`);
    const key = seriesKey(sample);
    if (series.has(key)) throw new Error(`line ${lineNo}: duplicate series ${key}`);
    series.add(key);
    if (f.type === 'counter' && !(Number.isFinite(sample.value) && sample.value >= 0)) {
      throw new Error(`line ${lineNo}: counter ${sample.name} has value ${sample.value}`);
    }
    f.samples.push(sample);
  });

  const out = new Map<string, PromFamily>();
  for (const f of families.values()) {
    if (f.help === undefined || f.type === undefined) throw new Error(`family ${f.name} lacks # HELP or # TYPE`);
    const done: PromFamily = { name: f.name, help: f.help, type: f.type, samples: f.samples };
    if (done.type === 'histogram') checkHistogram(done);
    if (done.type === 'summary') checkSummary(done);
    out.set(f.name, done);
  }
  const all = [...out.values()].flatMap((f) => f.samples);
  const find = (name: string, labels: Record<string, string> = {}) =>
    all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    families: out,
    find,
    value(name, labels = {}) {
      const hits = find(name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
      if (hits.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${hits.length}`);
      return hits[0]!.value;
    },
  };
}

function belongsTo(sampleName: string, familyName: string, type: MetricType | undefined): boolean {
  if (type === 'histogram') return [`${familyName}_bucket`, `${familyName}_sum`, `${familyName}_count`].includes(sampleName);
  if (type === 'summary') return [familyName, `${familyName}_sum`, `${familyName}_count`].includes(sampleName);
  return sampleName === familyName;
}

function parseSample(line: string, lineNo: number): PromSample {
  const nameMatch = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!nameMatch) throw new Error(`line ${lineNo}: no metric name in ${JSON.stringify(line)}`);
  const name = nameMatch[1]!;
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    while (line[pos] !== '}') {
      const ln = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
      if (!ln) throw new Error(`line ${lineNo}: bad label at column ${pos + 1}: ${JSON.stringify(line)}`);
      const labelName = ln[1]!;
      if (!LABEL_NAME.test(labelName) || labelName.startsWith('__')) throw new Error(`line ${lineNo}: invalid label name ${labelName}`);
      if (labelName in labels) throw new Error(`line ${lineNo}: label ${labelName} twice`);
      pos += ln[0].length;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw new Error(`line ${lineNo}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos + 1];
          if (e === '\\') value += '\\';
          else if (e === '"') value += '"';
          else if (e === 'n') value += '\n';
          else throw new Error(`line ${lineNo}: invalid escape \\${String(e)} in a label value`);
          pos += 2;
          continue;
        }
        value += c;
        pos++;
      }
      labels[labelName] = value;
      pos++; // closing quote
      if (line[pos] === ',') {
        pos++;
        if (line[pos] === '}') throw new Error(`line ${lineNo}: trailing comma in labels`);
      } else if (line[pos] !== '}') throw new Error(`line ${lineNo}: expected , or } at column ${pos + 1}`);
    }
    pos++;
  }
  const rest = line.slice(pos);
  const m = /^ (\S+)( -?\d+)?$/.exec(rest);
  if (!m) throw new Error(`line ${lineNo}: expected " value [timestamp]" after the labels, got ${JSON.stringify(rest)}`);
  return { name, labels, value: parseValue(m[1]!, lineNo) };
}

function parseValue(text: string, lineNo: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${lineNo}: invalid value ${JSON.stringify(text)}`);
  return Number(text);
}

function unescapeHelp(text: string, lineNo: number): string {
  return text.replace(/\\(.?)/g, (_, e: string) => {
    if (e === '\\') return '\\';
    if (e === 'n') return '\n';
    throw new Error(`line ${lineNo}: invalid escape in # HELP`);
  });
}

function seriesKey(s: PromSample): string {
  return `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b)))}`;
}

/** Key of a histogram or summary series without its `le` / `quantile` label. */
function groupKey(s: PromSample, without: string): string {
  return JSON.stringify(Object.entries(s.labels).filter(([k]) => k !== without).sort(([a], [b]) => a.localeCompare(b)));
}

function checkHistogram(f: PromFamily): void {
  const groups = new Map<string, { buckets: PromSample[]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const key = groupKey(s, 'le');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { buckets: [] }));
    if (s.name.endsWith('_bucket')) {
      if (s.labels['le'] === undefined) throw new Error(`${f.name}: a bucket without le`);
      g.buckets.push(s);
    } else if (s.name.endsWith('_sum')) g.sum = s.value;
    else {
      if (!Number.isInteger(s.value) || s.value < 0) throw new Error(`${f.name}${key}: _count ${s.value} is not a non-negative integer`);
      g.count = s.value;
    }
  }
  for (const [key, g] of groups) {
    if (g.sum === undefined || g.count === undefined) throw new Error(`${f.name}${key}: missing _sum or _count`);
    if (g.buckets.length === 0) throw new Error(`${f.name}${key}: no buckets`);
    let previousLe = -Infinity;
    let previousCount = 0;
    for (const b of g.buckets) {
      const le = parseValue(b.labels['le']!, 0);
      if (!(le > previousLe)) throw new Error(`${f.name}${key}: le ${b.labels['le']} is not above the previous bound`);
      if (b.value < previousCount) throw new Error(`${f.name}${key}: bucket le=${b.labels['le']} (${b.value}) is below the previous (${previousCount}): not cumulative`);
      previousLe = le;
      previousCount = b.value;
    }
    const last = g.buckets[g.buckets.length - 1]!;
    if (last.labels['le'] !== '+Inf') throw new Error(`${f.name}${key}: the last bucket is le=${last.labels['le']}, not +Inf`);
    if (last.value !== g.count) throw new Error(`${f.name}${key}: +Inf bucket ${last.value} differs from _count ${g.count}`);
  }
}

function checkSummary(f: PromFamily): void {
  const groups = new Map<string, Set<string>>();
  for (const s of f.samples) {
    const key = groupKey(s, 'quantile');
    let names = groups.get(key);
    if (!names) groups.set(key, (names = new Set()));
    names.add(s.name);
  }
  for (const [key, names] of groups) {
    if (!names.has(`${f.name}_sum`) || !names.has(`${f.name}_count`)) throw new Error(`${f.name}${key}: missing _sum or _count`);
  }
}
