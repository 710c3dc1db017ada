/**
 * Helpers for the HTTP service tests: a temp TFTP_DIR/BASE_DIR tree, a server on an
 * ephemeral port with its boot events collected, curl as the client, raw sockets for
 * requests curl refuses to send, and a multipart/byteranges parser.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema, type Config } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import type { BootEvent } from '../src/events.js';
import { MetricsRegistry } from '../src/metrics.js';
import { startHttpServer, type HttpServer, type HttpServerOptions } from '../src/http/server.js';

export interface TestHttp {
  server: HttpServer;
  base: string;
  events: BootEvent[];
  metrics: MetricsRegistry;
  config: Config;
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startTestHttp(
  dirs: { tftpDir: string; baseDir: string },
  http: Partial<Config['http']> = {},
  extra: Partial<HttpServerOptions> & { tftp?: Partial<Config['tftp']> } = {},
): Promise<TestHttp> {
  const config = ConfigSchema.parse({
    configFile: '/dev/null',
    ...dirs,
    http: { port: 0, address: '127.0.0.1', ...http },
    tftp: extra.tftp ?? {},
  });
  const events: BootEvent[] = [];
  const metrics = new MetricsRegistry();
  const server = await startHttpServer({ config, log: silentLogger, events: (e) => events.push(e), metrics, ...extra });
  return { server, base: `http://127.0.0.1:${server.port}`, events, metrics, config };
}

export interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

let seq = 0;
/** curl with `args`, returning the last response's status, headers (lower-case) and body. */
export async function curl(dir: string, args: string[]): Promise<CurlResult> {
  const n = seq++;
  const hdr = join(dir, `h${n}`);
  const out = join(dir, `b${n}`);
  const r = await execa('curl', ['-sS', '--max-time', '20', '-D', hdr, '-o', out, '-w', '%{http_code}', ...args], { reject: false });
  if (r.exitCode !== 0 && r.exitCode !== 22) throw new Error(`curl ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr}`);
  const blocks = readFileSync(hdr, 'latin1').split(/\r\n\r\n/).filter((b) => b.startsWith('HTTP/'));
  const headers: Record<string, string> = {};
  for (const line of (blocks.at(-1) ?? '').split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body: Buffer;
  try {
    body = readFileSync(out);
  } catch {
    body = Buffer.alloc(0); // curl writes no file for an empty body
  }
  rmSync(hdr, { force: true });
  rmSync(out, { force: true });
  return { status: Number(r.stdout), headers, body };
}

/** Sends raw bytes on a fresh TCP connection, returns what came back before close/timeout. */
export function rawRequest(port: number, bytes: Buffer | string, ms = 3000): Promise<{ status: number; text: string; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(port, '127.0.0.1', () => sock.write(bytes));
    const done = () => {
      clearTimeout(t);
      const raw = Buffer.concat(chunks);
      const text = raw.toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text, raw });
    };
    const t = setTimeout(() => {
      sock.destroy();
      done();
    }, ms);
    sock.on('data', (d) => {
      chunks.push(d);
      // one response is enough: stop once the declared body is complete
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: (\d+)/i.exec(text)?.[1];
      if (end > 0 && len !== undefined && Buffer.concat(chunks).length >= end + 4 + Number(len)) {
        sock.destroy();
        done();
      }
    });
    sock.on('close', done);
    sock.on('error', (e) => (chunks.length ? done() : reject(e)));
  });
}

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Strict multipart/byteranges parser (RFC 9110 §14.6 / RFC 2046): every part must be
 * `--boundary CRLF headers CRLF CRLF <exactly Content-Range's length> CRLF`, and the body
 * must end with `--boundary--`.
 */
export function parseByteranges(body: Buffer, contentType: string): Part[] {
  const m = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1$/.exec(contentType);
  if (!m) throw new Error(`not multipart/byteranges: ${contentType}`);
  const delim = Buffer.from(`--${m[2]}`);
  const parts: Part[] = [];
  let pos = 0;
  for (;;) {
    if (!body.subarray(pos, pos + delim.length).equals(delim)) throw new Error(`expected boundary at ${pos}`);
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') {
      if (body.subarray(pos + 2).toString() !== '\r\n') throw new Error('trailing bytes after the closing boundary');
      return parts;
    }
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new Error('no CRLF after boundary');
    pos += 2;
    const end = body.indexOf('\r\n\r\n', pos);
    if (end < 0) throw new Error('part headers not terminated');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, end).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    pos = end + 4;
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
    if (!cr) throw new Error(`bad part Content-Range: ${headers['content-range']}`);
    const len = Number(cr[2]) - Number(cr[1]) + 1;
    parts.push({ headers, body: body.subarray(pos, pos + len) });
    pos += len;
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new Error(`no CRLF after part data at ${pos}`);
    pos += 2;
  }
}
