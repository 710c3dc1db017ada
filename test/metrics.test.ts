import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../src/metrics.js';

describe('MetricsRegistry', () => {
  it('renders counters with escaped labels in Prometheus text format', () => {
    const r = new MetricsRegistry();
    const c = r.counter('ltsp_http_requests_total', 'HTTP requests');
    c.inc({ route: '/ltsp/*', status: 200 });
    c.inc({ status: 200, route: '/ltsp/*' }, 2);
    c.inc({ route: 'a"b', status: 404 });
    const text = r.render();
    expect(text).toContain('# TYPE ltsp_http_requests_total counter');
    expect(text).toContain('ltsp_http_requests_total{route="/ltsp/*",status="200"} 3');
    expect(text).toContain('ltsp_http_requests_total{route="a\\"b",status="404"} 1');
  });
  it('refuses to register one name as two types', () => {
    const r = new MetricsRegistry();
    r.counter('x', 'x');
    expect(() => r.gauge('x', 'x')).toThrow(/already registered/);
  });
});
