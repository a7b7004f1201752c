/** The strict Prometheus exposition parser of the metrics tests (test/helpers/prometheus.ts) refuses what it must. */
import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../helpers/prometheus.js';

const GOOD = `# HELP a_total A counter.
# TYPE a_total counter
a_total{queue="q\\"1\\\\x\\ny"} 3
# HELP h Latency.
# TYPE h histogram
h_bucket{le="0.1",queue="q"} 1
h_bucket{le="1",queue="q"} 2
h_bucket{le="+Inf",queue="q"} 2
h_sum{queue="q"} 0.6
h_count{queue="q"} 2
# HELP g A gauge.
# TYPE g gauge
g -1.5e3
`;

describe('parsePrometheus', () => {
  it('parses families, label escapes and histograms', () => {
    const p = parsePrometheus(GOOD);
    expect(p.value('a_total', { queue: 'q"1\\x\ny' })).toBe(3);
    expect(p.value('h_count', { queue: 'q' })).toBe(2);
    expect(p.value('g')).toBe(-1500);
    expect([...p.families.keys()]).toEqual(['a_total', 'h', 'g']);
  });

  it.each([
    ['a sample before # TYPE', 'x 1\n'],
    ['no trailing newline', '# HELP g g\n# TYPE g gauge\ng 1'],
    ['a second # TYPE', '# HELP g g\n# TYPE g gauge\n# TYPE g gauge\ng 1\n'],
    ['# TYPE after samples', '# HELP g g\n# TYPE g gauge\ng{a="1"} 1\n# TYPE g gauge\n'],
    ['a duplicate series', '# HELP g g\n# TYPE g gauge\ng{a="1",b="2"} 1\ng{b="2",a="1"} 2\n'],
    ['a bad escape', '# HELP g g\n# TYPE g gauge\ng{a="\\t"} 1\n'],
    ['an unquoted label value', '# HELP g g\n# TYPE g gauge\ng{a=1} 1\n'],
    ['an invalid metric name', '# HELP 1g g\n# TYPE 1g gauge\n'],
    ['a reserved label name', '# HELP g g\n# TYPE g gauge\ng{__x="1"} 1\n'],
    ['a bad value', '# HELP g g\n# TYPE g gauge\ng 1,5\n'],
    ['a negative counter', '# HELP c c\n# TYPE c counter\nc -1\n'],
    ['a split family', '# HELP g g\n# TYPE g gauge\ng{a="1"} 1\n# HELP f f\n# TYPE f gauge\nf 1\ng{a="2"} 1\n'],
    ['a non-cumulative histogram', '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['+Inf not equal to _count', '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n'],
    ['a histogram without +Inf', '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['buckets out of order', '# HELP h h\n# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['a histogram without _sum', '# HELP h h\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n'],
  ])('refuses %s', (_what, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });
});
