/**
 * A tiny Prometheus registry (counters and gauges with labels, text exposition format 0.0.4).
 * All three services write into one registry; the HTTP service renders it at /metrics.
 */
type Labels = Record<string, string | number>;

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

class Metric {
  readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge') {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }
  set(labels: Labels, v: number): void {
    this.values.set(key(labels), v);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }
}

export type Counter = Pick<Metric, 'inc' | 'get'>;
export type Gauge = Pick<Metric, 'inc' | 'dec' | 'set' | 'get'>;

/** One series (label set) of a counter or gauge. */
export interface Series {
  inc(by?: number): void;
  dec(by?: number): void;
}

/**
 * A handle on one series whose key is built once: for per-request/per-packet hot paths
 * (building the key sorts and escapes the labels on every inc).
 */
export function seriesOf(metric: Counter | Gauge, labels: Labels = {}): Series {
  if (metric instanceof Metric) {
    const k = key(labels);
    const v = metric.values;
    return { inc: (by = 1) => v.set(k, (v.get(k) ?? 0) + by), dec: (by = 1) => v.set(k, (v.get(k) ?? 0) - by) };
  }
  return { inc: (by = 1) => metric.inc(labels, by), dec: (by = 1) => metric.inc(labels, -by) };
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private metric(name: string, help: string, type: 'counter' | 'gauge'): Metric {
    let m = this.metrics.get(name);
    if (!m) {
      m = new Metric(name, help, type);
      this.metrics.set(name, m);
    } else if (m.type !== type) {
      throw new Error(`metric ${name} already registered as ${m.type}`);
    }
    return m;
  }

  counter(name: string, help: string): Counter {
    return this.metric(name, help, 'counter');
  }

  gauge(name: string, help: string): Gauge {
    return this.metric(name, help, 'gauge');
  }

  /** Prometheus text exposition format. */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) {
      out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
      if (m.values.size === 0 && m.type === 'gauge') out.push(`${m.name} 0`);
      for (const [k, v] of m.values) out.push(k ? `${m.name}{${k}} ${v}` : `${m.name} ${v}`);
    }
    return out.join('\n') + '\n';
  }
}
