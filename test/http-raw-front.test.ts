/**
 * The raw HTTP front (src/http/raw-front.ts): its strict head parser, and on a real server
 * over raw sockets: keep-alive connections that mix requests it answers with requests it
 * hands to node:http, pipelining, heads split into single bytes, HTTP/1.0 and
 * `Connection: close`, requests node:http must see (no Host, obs-fold, huge heads, a
 * body), and server close with idle connections open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { parseHead, RawResponse } from '../src/http/raw-front.js';
import { startTestHttp, tempDir, type TestHttp } from './http-helpers.js';

describe('parseHead', () => {
  const head = (lines: string[]) => lines.join('\r\n');
  it('takes GET/HEAD with an origin-form target, HTTP/1.0 or 1.1, the headers the file path reads', () => {
    const p = parseHead(head(['GET /ltsp/x?y=1 HTTP/1.1', 'Host: a:8080', 'Range: bytes=0-9', 'User-Agent: iPXE/1.21', 'X-Other: ignored', 'If-None-Match:  "e"  ']));
    expect(p).toMatchObject({ method: 'GET', url: '/ltsp/x?y=1', httpVersion: '1.1' });
    expect(p!.headers).toMatchObject({ host: 'a:8080', range: 'bytes=0-9', 'user-agent': 'iPXE/1.21', 'if-none-match': '"e"' });
    expect(parseHead(head(['HEAD /ltsp/x HTTP/1.0']))).toMatchObject({ method: 'HEAD', httpVersion: '1.0' });
    expect(parseHead(head(['GET /ltsp/x HTTP/1.1', 'HOST: h']))?.headers.host).toBe('h');
  });
  it.each([
    ['another method', ['POST /ltsp/x HTTP/1.1', 'Host: h']],
    ['absolute-form target', ['GET http://h/ltsp/x HTTP/1.1', 'Host: h']],
    ['HTTP/2 or 0.9 style line', ['GET /ltsp/x HTTP/2.0', 'Host: h']],
    ['two spaces', ['GET  /ltsp/x HTTP/1.1', 'Host: h']],
    ['no Host on 1.1', ['GET /ltsp/x HTTP/1.1']],
    ['empty Host on 1.1', ['GET /ltsp/x HTTP/1.1', 'Host:']],
    ['obs-fold', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'X-A: a', ' continued']],
    ['space before colon', ['GET /ltsp/x HTTP/1.1', 'Host : h']],
    ['bare LF inside a line', ['GET /ltsp/x HTTP/1.1', 'Host: h\nRange: bytes=0-1']],
    ['NUL in a value', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'X-A: a\0b']],
    ['repeated Range', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'Range: bytes=0-1', 'Range: bytes=5-6']],
    ['repeated Host', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'Host: i']],
    ['a body (Content-Length)', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'Content-Length: 5']],
    ['any Content-Length, even 0', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'Content-Length: 0']],
    ['a body (Transfer-Encoding)', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked']],
    ['Expect', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'Expect: 100-continue']],
    ['Upgrade', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'Upgrade: websocket']],
    ['a line without a colon', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'garbage']],
    ['a line without a colon before others', ['GET /ltsp/x HTTP/1.1', 'garbage', 'Host: h']],
    ['bare CR inside a value', ['GET /ltsp/x HTTP/1.1', 'Host: h\rRange: bytes=0-1']],
    ['a control character in the target', ['GET /ltsp/x\x01y HTTP/1.1', 'Host: h']],
    ['DEL in a value', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'User-Agent: a\x7fb']],
    ['a non-token header name', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'X(A): a']],
    ['a non-token name that lower-cases like a known one', ['GET /ltsp/x HTTP/1.1', 'Host: h', 'R\u00c0nge: bytes=0-1']],
  ])('leaves %s to node:http', (_name, lines) => {
    expect(parseHead(head(lines))).toBeUndefined();
  });
});

describe('RawResponse.endInPlace', () => {
  /** One response written by `act` on the server side of a loopback connection: what the client received. */
  async function received(act: (res: RawResponse) => void): Promise<{ bytes: Buffer; finished: boolean }> {
    const got: Buffer[] = [];
    let res: RawResponse | undefined;
    const srv = createServer((s) => {
      res = new RawResponse(s, false, false, 65); // Connection: close, so the client sees the end
      act(res);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const c = connect(port, '127.0.0.1');
      c.on('data', (d: Buffer) => got.push(d));
      await new Promise((r) => c.once('close', r));
    } finally {
      srv.close();
    }
    return { bytes: Buffer.concat(got), finished: res!.writableFinished };
  }
  const body = randomBytes(5000);
  const expected = async () => (await received((res) => res.writeHead(206, { 'content-length': body.length }).end(body))).bytes;

  it('sends the head written into the headroom and the body as end() would, and calls back once written', async () => {
    const want = await expected();
    let called = 0;
    const buf = Buffer.alloc(1024 + body.length, 0x55);
    body.copy(buf, 1024);
    const r = await received((res) => res.writeHead(206, { 'content-length': body.length }).endInPlace(buf, 1024, 1024 + body.length, () => called++));
    // the Date header may tick between the two responses
    const date = (b: Buffer) => b.toString('latin1').replace(/Date: [^\r]+/, 'Date: x');
    expect(date(r.bytes)).toBe(date(want));
    expect(r.bytes.subarray(-body.length).equals(body)).toBe(true);
    expect(called).toBe(1);
    expect(r.finished).toBe(true);
  });

  it('falls back to end() when the head does not fit before the body', async () => {
    const buf = Buffer.concat([Buffer.alloc(16, 0x55), body]);
    const r = await received((res) => res.writeHead(206, { 'content-length': body.length }).endInPlace(buf, 16, 16 + body.length));
    expect(r.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 206 Partial Content\r\n/);
    expect(r.bytes.subarray(-body.length).equals(body)).toBe(true);
    expect(buf.subarray(0, 16).equals(Buffer.alloc(16, 0x55))).toBe(true); // nothing written into it
  });
});

interface Resp {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One client connection that reads responses in order (Content-Length framed). */
class Conn {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  readonly sock: Socket;
  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.sock.on('error', () => {});
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  private wait(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timeout waiting for the server')), ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
  send(s: string | Buffer): void {
    this.sock.write(s);
  }
  /** The next response; `head`: it is an answer to HEAD (no body despite Content-Length). */
  async response(head = false, ms = 5000): Promise<Resp> {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
        const len = head ? 0 : Number(headers['content-length'] ?? 0);
        if (this.buf.length >= end + 4 + len) {
          const body = this.buf.subarray(end + 4, end + 4 + len);
          this.buf = this.buf.subarray(end + 4 + len);
          return { status: Number(lines[0]!.split(' ')[1]), headers, body };
        }
      }
      if (this.closed) throw new Error(`connection closed; ${this.buf.length} bytes left`);
      await this.wait(ms);
    }
  }
  async closedByServer(ms = 5000): Promise<boolean> {
    while (!this.closed) await this.wait(ms);
    return true;
  }
  destroy(): void {
    this.sock.destroy();
  }
}

const { dir, cleanup } = tempDir('ltsp-rawfront-');
const tftpDir = join(dir, 'tftp');
const data = randomBytes(300_000);
let t: TestHttp;
const get = (p: string, extra: string[] = [], method = 'GET', version = '1.1') =>
  [`${method} ${p} HTTP/${version}`, 'Host: 127.0.0.1', ...extra, '', ''].join('\r\n');

beforeAll(async () => {
  mkdirSync(join(tftpDir, 'ltsp'), { recursive: true });
  mkdirSync(join(dir, 'base'), { recursive: true });
  writeFileSync(join(tftpDir, 'ltsp', 'data.bin'), data);
  t = await startTestHttp({ tftpDir, baseDir: join(dir, 'base') });
});
afterAll(async () => {
  await t?.server.close();
  cleanup();
});

describe('on a live server', () => {
  it('one keep-alive connection: raw-front file requests, a handed-over /healthz, then node:http answers the rest', async () => {
    const c = new Conn(t.server.port);
    try {
      c.send(get('/ltsp/data.bin', ['Range: bytes=0-99']));
      const a = await c.response();
      expect(a.status).toBe(206);
      expect(a.body.equals(data.subarray(0, 100))).toBe(true);
      expect(a.headers.connection).toBe('keep-alive');
      c.send(get('/ltsp/data.bin', ['Range: bytes=100-199']));
      expect((await c.response()).body.equals(data.subarray(100, 200))).toBe(true);
      c.send(get('/healthz'));
      const h = await c.response();
      expect(h.status).toBe(200);
      expect(h.body.toString()).toBe('ok\n');
      c.send(get('/ltsp/data.bin'));
      const full = await c.response();
      expect(full.status).toBe(200);
      expect(full.body.equals(data)).toBe(true);
      expect(c.closed).toBe(false);
      // the first two went through the front, then it handed the connection over
      expect(t.metrics.render()).toMatch(/ltsp_http_raw_front_total\{result="handed_over"\} [1-9]/);
    } finally {
      c.destroy();
    }
  });

  it('pipelined requests in one write are answered in order, across the hand-over', async () => {
    const c = new Conn(t.server.port);
    try {
      c.send(
        get('/ltsp/data.bin', ['Range: bytes=10-19']) +
          get('/ltsp/data.bin', [], 'HEAD') +
          get('/ltsp/data.bin', ['Range: bytes=-5']) +
          get('/healthz') +
          get('/ltsp/data.bin', ['Range: bytes=20-29']),
      );
      expect((await c.response()).body.equals(data.subarray(10, 20))).toBe(true);
      const h = await c.response(true);
      expect(h.status).toBe(200);
      expect(h.headers['content-length']).toBe(String(data.length));
      expect((await c.response()).body.equals(data.subarray(data.length - 5))).toBe(true);
      expect((await c.response()).body.toString()).toBe('ok\n');
      expect((await c.response()).body.equals(data.subarray(20, 30))).toBe(true);
    } finally {
      c.destroy();
    }
  });

  it('a head arriving one byte at a time', async () => {
    const c = new Conn(t.server.port);
    try {
      const req = get('/ltsp/data.bin', ['Range: bytes=1000-1009']);
      for (const ch of req) {
        c.send(ch);
        await new Promise((r) => setTimeout(r, 1));
      }
      expect((await c.response()).body.equals(data.subarray(1000, 1010))).toBe(true);
    } finally {
      c.destroy();
    }
  });

  it('HTTP/1.0 without keep-alive and HTTP/1.1 with Connection: close are closed after the response', async () => {
    for (const req of [get('/ltsp/data.bin', ['Range: bytes=0-9'], 'GET', '1.0'), get('/ltsp/data.bin', ['Range: bytes=0-9', 'Connection: close'])]) {
      const c = new Conn(t.server.port);
      c.send(req);
      const r = await c.response();
      expect(r.status).toBe(206);
      expect(r.headers.connection).toBe('close');
      expect(await c.closedByServer()).toBe(true);
    }
    const k = new Conn(t.server.port);
    try {
      k.send(get('/ltsp/data.bin', ['Range: bytes=0-9', 'Connection: keep-alive'], 'GET', '1.0'));
      expect((await k.response()).headers.connection).toBe('keep-alive');
      k.send(get('/ltsp/data.bin', ['Range: bytes=10-19', 'Connection: keep-alive'], 'GET', '1.0'));
      expect((await k.response()).body.equals(data.subarray(10, 20))).toBe(true);
    } finally {
      k.destroy();
    }
  });

  it('a client that half-closes after its requests gets every answer, then the server closes', async () => {
    const c = new Conn(t.server.port);
    try {
      c.send(get('/ltsp/data.bin', ['Range: bytes=0-9']) + get('/ltsp/data.bin', ['Range: bytes=10-19']));
      c.sock.end(); // FIN: nothing more to send
      expect((await c.response()).body.equals(data.subarray(0, 10))).toBe(true);
      expect((await c.response()).body.equals(data.subarray(10, 20))).toBe(true);
      expect(await c.closedByServer()).toBe(true);
    } finally {
      c.destroy();
    }
  });

  it('requests the front does not parse with certainty get node:http answers', async () => {
    const cases: [string, number][] = [
      ['GET /ltsp/data.bin HTTP/1.1\r\n\r\n', 400], // no Host
      ['GET /ltsp/data.bin HTTP/1.1\r\nHost: h\r\nX-A: a\r\n folded\r\n\r\n', 400],
      [`GET /ltsp/data.bin HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ];
    for (const [req, status] of cases) {
      const c = new Conn(t.server.port);
      try {
        c.send(req);
        expect((await c.response()).status, JSON.stringify(req.slice(0, 60))).toBe(status);
      } finally {
        c.destroy();
      }
    }
    // a GET with a chunked body: node:http reads the body, the file is still served
    const c = new Conn(t.server.port);
    try {
      c.send('GET /ltsp/data.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=5-9\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      const r = await c.response();
      expect(r.status).toBe(206);
      expect(r.body.equals(data.subarray(5, 10))).toBe(true);
      c.send(get('/ltsp/data.bin', ['Range: bytes=0-1']));
      expect((await c.response()).body.equals(data.subarray(0, 2))).toBe(true);
    } finally {
      c.destroy();
    }
  });

  it('access log facts: raw-front requests count in metrics and boot events like any other', async () => {
    const before = t.events.length;
    const answered = () => Number(/ltsp_http_raw_front_total\{result="answered"\} (\d+)/.exec(t.metrics.render())?.[1] ?? 0);
    const n0 = answered();
    const c = new Conn(t.server.port);
    try {
      c.send(get('/ltsp/data.bin', ['Range: bytes=0-99', 'User-Agent: iPXE/1.21.1']));
      await c.response();
    } finally {
      c.destroy();
    }
    for (let i = 0; i < 100 && t.events.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    const e = t.events.at(-1)!;
    expect(e).toMatchObject({ service: 'http', file: 'data.bin', bytes: 100, outcome: 'ok' });
    expect(e.detail).toMatchObject({ status: 206, method: 'GET', range: 'bytes=0-99' });
    expect(t.metrics.render()).toMatch(/ltsp_http_requests_total\{route="file",status="206"\} \d+/);
    expect(answered()).toBe(n0 + 1);
  });
});

describe('slow heads', () => {
  it('a head trickled in a byte at a time is cut off once it is older than headersTimeoutMs', async () => {
    const { createServer } = await import('node:net');
    const { rawFront } = await import('../src/http/raw-front.js');
    let handled = 0;
    const front = rawFront({
      handle: (_req, res) => {
        handled++;
        res.end(Buffer.from('x'));
        return true;
      },
      fallback: (s) => s.destroy(),
      keepAliveMs: 60_000,
      headersTimeoutMs: 300,
    });
    const srv = createServer(front.accept);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const c = new Conn((srv.address() as { port: number }).port);
    try {
      // a byte every 40 ms keeps the idle timer fresh; the head never completes (≥ 2 s of trickle)
      for (let i = 0; i < 50 && !c.closed; i++) {
        c.send('X');
        await new Promise((r) => setTimeout(r, 40));
      }
      expect(c.closed).toBe(true);
      expect(handled).toBe(0);
    } finally {
      c.destroy();
      srv.close();
    }
  });
});

describe('server close', () => {
  it('close(drainMs): a download in flight finishes, a new request gets 503, then close() returns', async () => {
    const d = tempDir('ltsp-rawfront-drain-');
    mkdirSync(join(d.dir, 'tftp', 'ltsp'), { recursive: true });
    const kernel = randomBytes(24 * 1024 * 1024); // far more than socket buffers hold
    writeFileSync(join(d.dir, 'tftp', 'ltsp', 'vmlinuz'), kernel);
    const s = await startTestHttp({ tftpDir: join(d.dir, 'tftp'), baseDir: d.dir });
    const dl = new Conn(s.server.port);
    try {
      dl.sock.pause(); // a slow client: the response cannot complete until it reads
      dl.send(get('/ltsp/vmlinuz'));
      await new Promise((r) => setTimeout(r, 200));
      let closed = false;
      const closing = s.server.close(20_000).then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(closed).toBe(false); // waiting for the download
      const late = new Conn(s.server.port);
      try {
        late.send(get('/ltsp/vmlinuz', ['Range: bytes=0-9']));
        expect((await late.response()).status).toBe(503);
      } finally {
        late.destroy();
      }
      dl.sock.resume();
      const r = await dl.response(false, 20_000);
      expect(r.status).toBe(200);
      expect(r.body.equals(kernel)).toBe(true);
      await closing;
      expect(closed).toBe(true);
    } finally {
      dl.destroy();
      d.cleanup();
    }
  });

  it('close() without a drain cuts a stalled download at once', async () => {
    const d = tempDir('ltsp-rawfront-nodrain-');
    mkdirSync(join(d.dir, 'tftp', 'ltsp'), { recursive: true });
    writeFileSync(join(d.dir, 'tftp', 'ltsp', 'vmlinuz'), randomBytes(24 * 1024 * 1024));
    const s = await startTestHttp({ tftpDir: join(d.dir, 'tftp'), baseDir: d.dir });
    const dl = new Conn(s.server.port);
    try {
      dl.sock.pause();
      dl.send(get('/ltsp/vmlinuz'));
      await new Promise((r) => setTimeout(r, 200));
      await s.server.close();
      dl.sock.resume();
      expect(await dl.closedByServer()).toBe(true);
    } finally {
      dl.destroy();
      d.cleanup();
    }
  });

  it('closes idle keep-alive connections the front owns, and close() returns', async () => {
    const d = tempDir('ltsp-rawfront-close-');
    mkdirSync(join(d.dir, 'tftp', 'ltsp'), { recursive: true });
    writeFileSync(join(d.dir, 'tftp', 'ltsp', 'f'), 'hello');
    const s = await startTestHttp({ tftpDir: join(d.dir, 'tftp'), baseDir: d.dir });
    const idle = new Conn(s.server.port);
    const quiet = new Conn(s.server.port); // connected, never sent a byte
    try {
      idle.send(get('/ltsp/f'));
      expect((await idle.response()).body.toString()).toBe('hello');
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      await s.server.close();
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await idle.closedByServer()).toBe(true);
      expect(await quiet.closedByServer()).toBe(true);
    } finally {
      idle.destroy();
      quiet.destroy();
      d.cleanup();
    }
  });
});
