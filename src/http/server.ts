/**
 * The HTTP boot service (fastify). Routes:
 *
 *   GET/HEAD /ltsp/ltsp.ipxe[?mac=]   the iPXE script, generated per request (no caching)
 *   GET/HEAD /ltsp/images/<name>.img  squashfs images: off by default; allowed subnets + signed token
 *   GET/HEAD /ltsp/**                 files under TFTP_DIR/ltsp, with ranges and conditionals
 *   GET /metrics, GET /healthz
 *
 * File bodies bypass fastify's reply pipeline (reply.hijack()) and go through our own
 * sender (file-sender.ts): large pooled reads written straight to the response. Every
 * request gets one access-log line and metrics from a single hook on the raw response's
 * 'close'; file, image and script requests also emit a BootEvent.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import path from 'node:path';
import type { Config, LoadedConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { noEvents, type BootEventSink } from '../events.js';
import { MetricsRegistry } from '../metrics.js';
import { PathRefused, Root, openInside, safeComponents, type OpenedFile } from './safe-path.js';
import { serveFile } from './serve-file.js';
import { imageTokensFromConfig, type ImageTokens } from './image-token.js';
import { inSubnets, parseSubnets, unmapIPv4 } from './client-subnet.js';
import { ipxeScriptProvider } from './script-provider.js';

/** What a script generator learns about the request. */
export interface ScriptRequest {
  clientIp: string;
  /** From `?mac=`, normalised to lower-case `aa:bb:cc:dd:ee:ff`. */
  mac?: string;
  /** Host the client addressed (Host header without port, or the local address). */
  host: string;
  /** `http://host:port` of this server as the client reached it. */
  baseUrl: string;
}

export type ScriptProvider = (req: ScriptRequest) => Promise<string> | string;

export interface HttpServerOptions {
  config: Config;
  log: Logger;
  events?: BootEventSink;
  metrics?: MetricsRegistry;
  /** Generates /ltsp/ltsp.ipxe. Without one, TFTP_DIR/ltsp/ltsp.ipxe is served as a file. */
  script?: ScriptProvider;
  /**
   * Without `script`: generate the script from this config (src/boot/ipxe-menu.ts). A
   * function is called per request (for configs reloaded on SIGHUP).
   */
  loaded?: LoadedConfig | (() => LoadedConfig);
  /** Image token signer/verifier (default: from config.http); share it with the script generator. */
  tokens?: ImageTokens;
  /** Extra routes (dashboard, API), registered before the server listens. */
  routes?: (app: FastifyInstance) => void | Promise<void>;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
  app: FastifyInstance;
  tokens: ImageTokens;
}

type RouteLabel = 'script' | 'image' | 'file' | 'metrics' | 'healthz' | 'other';

/** Per-request bookkeeping shared by the handlers and the logging hook. */
interface Track {
  start: bigint;
  route: RouteLabel;
  /** Body bytes written by our own sender (hijacked replies). */
  bytes?: number;
  /** File name relative to the route root, for boot events. */
  file?: string;
  outcome?: string;
  reason?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    track: Track;
  }
}

const MAC = /^([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})$/i;

/** `AA-BB-CC-DD-EE-FF`, `aabbccddeeff` ... → `aa:bb:cc:dd:ee:ff`; undefined when not a MAC. */
export function normaliseMac(s: string): string | undefined {
  const m = MAC.exec(s.trim());
  return m ? m.slice(1, 7).join(':').toLowerCase() : undefined;
}

/** Path part of the raw request URL, without query string. */
function rawPath(req: FastifyRequest): string {
  const url = req.raw.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function clientIp(req: FastifyRequest): string {
  return unmapIPv4(req.raw.socket.remoteAddress ?? '');
}

/**
 * Host and base URL as the client reached us. OVMF HTTP Boot sends `Host:` without the
 * port, so the port is always the local socket's; the host name is the client's choice
 * when it sent one (a DNS name keeps working), else our local address.
 */
export function reachedAs(hostHeader: string | undefined, localAddress: string, localPort: number): { host: string; baseUrl: string } {
  let host = unmapIPv4(localAddress);
  const h = hostHeader?.trim();
  if (h) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?$/.exec(h);
    if (m) host = m[1]!;
  }
  const hostInUrl = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return { host, baseUrl: `http://${hostInUrl}${localPort === 80 ? '' : `:${localPort}`}` };
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { config, events = noEvents } = opts;
  const log = opts.log.child({ svc: 'http' });
  const metrics = opts.metrics ?? new MetricsRegistry();
  const tokens = opts.tokens ?? imageTokensFromConfig(config);
  const loaded = opts.loaded;
  const script: ScriptProvider | undefined =
    opts.script ?? (loaded ? ipxeScriptProvider(typeof loaded === 'function' ? loaded : () => loaded, log) : undefined);

  const mRequests = metrics.counter('ltsp_http_requests_total', 'HTTP requests answered, by route and status');
  const mBytes = metrics.counter('ltsp_http_response_bytes_total', 'HTTP response body bytes sent, by route and status');
  const mInFlight = metrics.gauge('ltsp_http_requests_in_flight', 'HTTP requests being answered, by route');

  const tftpRoot = new Root(config.tftpDir);
  const ltspDir = path.join(config.tftpDir, 'ltsp');
  const imagesRoot = new Root(path.join(config.baseDir, 'images'));
  const allow = parseSubnets(config.http.imagesAllow);
  for (const b of allow.bad) log.warn({ entry: b }, 'http.imagesAllow: not an IPv4 address or a.b.c.d/n subnet, ignored');
  if (config.http.images && allow.subnets.length === 0) {
    log.warn('http.images is on but http.imagesAllow is empty: every image request will be refused');
  }

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    keepAliveTimeout: 65_000,
    routerOptions: { maxParamLength: 4096 },
    bodyLimit: 1024,
    return503OnClosing: true,
  });

  app.decorateRequest('track', null as unknown as Track);

  app.addHook('onRequest', (req, reply, done) => {
    const route = (req.routeOptions.config as { label?: RouteLabel } | undefined)?.label ?? 'other';
    req.track = { start: process.hrtime.bigint(), route };
    mInFlight.inc({ route });
    reply.raw.once('close', () => finished(req, reply));
    done();
  });

  /** Access log line, metrics and boot event once the response is over (or aborted). */
  function finished(req: FastifyRequest, reply: FastifyReply): void {
    const t = req.track;
    const res = reply.raw;
    const ms = Number(process.hrtime.bigint() - t.start) / 1e6;
    const status = res.statusCode;
    const bytes = t.bytes ?? (req.method === 'HEAD' ? 0 : Number(reply.getHeader('content-length') ?? res.getHeader('content-length') ?? 0));
    const aborted = !res.writableFinished;
    mInFlight.dec({ route: t.route });
    mRequests.inc({ route: t.route, status });
    mBytes.inc({ route: t.route, status }, bytes);
    const line = {
      client: clientIp(req),
      method: req.method,
      path: req.raw.url,
      status,
      bytes,
      ms: Math.round(ms * 1000) / 1000,
      range: req.headers.range,
      ua: req.headers['user-agent'],
      ...(aborted ? { aborted: true } : {}),
      ...(t.reason ? { reason: t.reason } : {}),
    };
    const quiet = t.route === 'metrics' || t.route === 'healthz';
    if (status === 403) log.warn(line, `${req.method} ${line.path} ${status}`);
    else if (quiet) log.debug(line, `${req.method} ${line.path} ${status}`);
    else log.info(line, `${req.method} ${line.path} ${status}`);
    if (t.route === 'file' || t.route === 'image' || t.route === 'script') {
      try {
        events({
          time: Date.now(),
          service: 'http',
          kind: 'request',
          ip: line.client,
          file: t.file ?? req.raw.url,
          bytes,
          durationMs: ms,
          outcome: aborted ? 'aborted' : (t.outcome ?? (status < 400 ? 'ok' : 'error')),
          detail: { status, method: req.method, range: req.headers.range, reason: t.reason },
        });
      } catch (err) {
        log.error({ err }, 'boot event sink failed');
      }
    }
  }

  /** Hands a confined file to serveFile and records the outcome. */
  async function sendFile(req: FastifyRequest, reply: FastifyReply, file: OpenedFile): Promise<void> {
    reply.hijack();
    try {
      // serveFile fills req.track (bytes, outcome, reason) before the response ends.
      await serveFile(req.raw, reply.raw, file, req.track);
    } catch (err) {
      log.error({ err, file: file.path }, 'file send failed');
      req.track.reason = (err as Error).message;
      if (!reply.raw.headersSent) reply.raw.writeHead(500).end();
      else reply.raw.destroy();
    }
  }

  function refuse(req: FastifyRequest, reply: FastifyReply, status: number, reason: string): FastifyReply {
    req.track.reason = reason;
    req.track.outcome = 'refused';
    return reply.code(status).type('text/plain; charset=utf-8').send(`${reason}\n`);
  }

  // --- the iPXE script -------------------------------------------------------------
  app.route({
    method: ['GET', 'HEAD'],
    url: '/ltsp/ltsp.ipxe',
    config: { label: 'script' },
    handler: async (req, reply) => {
      req.track.file = 'ltsp.ipxe';
      const q = req.query as Record<string, string | string[] | undefined>;
      let mac: string | undefined;
      if (q.mac !== undefined) {
        mac = typeof q.mac === 'string' ? normaliseMac(q.mac) : undefined;
        if (!mac) return refuse(req, reply, 400, 'mac: expected a MAC address like aa:bb:cc:dd:ee:ff');
      }
      if (!script) {
        // No generator wired in: serve a static ltsp.ipxe like `ltsp ipxe` writes it.
        try {
          return await sendFile(req, reply, await openInside(tftpRoot, ltspDir, ['ltsp.ipxe'], config.tftp.followSymlinksOutside));
        } catch (err) {
          if (err instanceof PathRefused) return refuse(req, reply, err.status, err.reason);
          throw err;
        }
      }
      const sock = req.raw.socket;
      const reached = reachedAs(req.headers.host, sock.localAddress ?? '127.0.0.1', sock.localPort ?? config.http.port);
      const text = await script({ clientIp: clientIp(req), mac, ...reached });
      return reply
        .header('cache-control', 'no-store')
        .type('text/plain; charset=utf-8')
        .send(text);
    },
  });

  // --- squashfs images ---------------------------------------------------------------
  app.route({
    method: ['GET', 'HEAD'],
    url: '/ltsp/images/*',
    config: { label: 'image' },
    handler: async (req, reply) => {
      const rest = rawPath(req).slice('/ltsp/images/'.length);
      req.track.file = `images/${rest}`;
      if (!config.http.images) return refuse(req, reply, 403, 'images over HTTP are off (http.images)');
      const ip = clientIp(req);
      if (!inSubnets(ip, allow.subnets)) return refuse(req, reply, 403, `client ${ip} not in http.imagesAllow`);
      let parts: string[];
      try {
        parts = safeComponents(rest);
      } catch (err) {
        if (err instanceof PathRefused) return refuse(req, reply, err.status, err.reason);
        throw err;
      }
      const m = parts.length === 1 ? /^(.+)\.img$/.exec(parts[0]!) : null;
      if (!m) return refuse(req, reply, 404, 'not an image name');
      const q = req.query as Record<string, string | string[] | undefined>;
      const check = tokens.verify(m[1]!, ip, typeof q.token === 'string' ? q.token : undefined);
      if (!check.ok) return refuse(req, reply, 403, `image token ${check.reason}`);
      try {
        return await sendFile(req, reply, await openInside(imagesRoot, imagesRoot.dir, parts, false));
      } catch (err) {
        if (err instanceof PathRefused) return refuse(req, reply, err.status, err.reason);
        throw err;
      }
    },
  });

  // --- everything else under TFTP_DIR/ltsp ------------------------------------------
  app.route({
    method: ['GET', 'HEAD'],
    url: '/ltsp/*',
    config: { label: 'file' },
    handler: async (req, reply) => {
      const rest = rawPath(req).slice('/ltsp/'.length);
      req.track.file = rest;
      try {
        const parts = safeComponents(rest);
        req.track.file = parts.join('/');
        return await sendFile(req, reply, await openInside(tftpRoot, ltspDir, parts, config.tftp.followSymlinksOutside));
      } catch (err) {
        if (err instanceof PathRefused) return refuse(req, reply, err.status, err.reason);
        throw err;
      }
    },
  });

  app.get('/metrics', { config: { label: 'metrics' } }, (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()),
  );
  app.get('/healthz', { config: { label: 'healthz' } }, (_req, reply) => reply.type('text/plain; charset=utf-8').send('ok\n'));

  app.setNotFoundHandler((req, reply) => refuse(req, reply, 404, 'not found'));
  app.setErrorHandler((err: Error, req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) log.error({ err, path: req.raw.url }, 'request failed');
    if (req.track) req.track.reason = err.message;
    return reply.code(status).type('text/plain; charset=utf-8').send(status >= 500 ? 'internal error\n' : `${err.message}\n`);
  });

  if (opts.routes) await opts.routes(app);

  await app.listen({ port: config.http.port, host: config.http.address });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.http.port;
  log.info({ address: config.http.address, port, images: config.http.images }, 'HTTP service listening');

  return {
    port,
    app,
    tokens,
    close: async () => {
      await app.close();
    },
  };
}
