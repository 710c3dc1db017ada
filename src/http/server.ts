/**
 * The HTTP boot service (fastify). Routes:
 *
 *   GET/HEAD /ltsp/ltsp.ipxe[?mac=]   the iPXE script, generated per request (no caching)
 *   GET/HEAD /ltsp/images/<name>.img  squashfs images: off by default; allowed subnets + signed token
 *   GET/HEAD /ltsp/**                 files under TFTP_DIR/ltsp, with ranges and conditionals
 *   GET /metrics, GET /healthz
 *
 * File bodies bypass fastify's reply pipeline (reply.hijack()) and go through our own
 * sender (file-sender.ts): large pooled reads written straight to the response. Plain
 * GET/HEAD requests for files under /ltsp/ do not enter fastify at all: `fileFastPath`
 * answers them with the same code the fastify file route runs, called from the raw front
 * (raw-front.ts: reads requests off the socket itself, hands node:http every request it
 * does not take) and, for connections node:http owns, from a node:http request handler in
 * front of fastify; everything else goes to fastify. Every request gets one
 * access-log line and metrics from the raw response's 'close' (access-log.ts); file, image
 * and script requests also emit a BootEvent.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { Config, LoadedConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { noEvents, type BootEventSink } from '../events.js';
import { MetricsRegistry, seriesOf } from '../metrics.js';
import { PathRefused, Root, safeComponents, type OpenedFile } from './safe-path.js';
import { OpenFileCache } from './open-file-cache.js';
import { ContentCache } from './content-cache.js';
import { plain, serveFile, serveFileNow } from './serve-file.js';
import { imageTokensFromConfig, type ImageTokens } from './image-token.js';
import { inSubnets, parseSubnets, unmapIPv4 } from './client-subnet.js';
import { ipxeScriptProvider } from './script-provider.js';
import { clientIp, requestRecorder, type RouteLabel, type Track } from './access-log.js';
import { rawFront, type RawFront } from './raw-front.js';
import type { Socket } from 'node:net';

/** Keep-alive idle time (node:http and the raw front alike). */
const KEEP_ALIVE_MS = 65_000;

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
  /** Stops: new requests get 503, responses in flight may finish for up to drainMs (default 0). */
  close(drainMs?: number): Promise<void>;
  app: FastifyInstance;
  tokens: ImageTokens;
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
function rawPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * Paths the fast path may take: exactly those fastify routes to the `/ltsp/*` file route
 * and that need no decoding. Anything with `%`, unusual characters or of unusual length
 * goes through fastify (same handler, fastify's routing decides).
 */
const FAST_PATH = /^\/ltsp\/[A-Za-z0-9._~+\/-]{1,1024}$/;

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
    opts.script ?? (loaded ? ipxeScriptProvider(typeof loaded === 'function' ? loaded : () => loaded, log, undefined, tokens) : undefined);

  const tftpRoot = new Root(config.tftpDir);
  const ltspDir = path.join(config.tftpDir, 'ltsp');
  const imagesRoot = new Root(path.join(config.baseDir, 'images'));
  const allow = parseSubnets(config.http.imagesAllow);
  for (const b of allow.bad) log.warn({ entry: b }, 'http.imagesAllow: not an IPv4 address or a.b.c.d/n subnet, ignored');
  if (config.http.images && allow.subnets.length === 0) {
    log.warn('http.images is on but http.imagesAllow is empty: every image request will be refused');
  }

  const recorder = requestRecorder(log, metrics, events);
  const files = new OpenFileCache();
  const mCache = metrics.counter('ltsp_http_content_cache_total', 'File bodies served from memory (hit) or from disk (miss), see HTTP_CACHE_MB');
  const cacheHit = seriesOf(mCache, { result: 'hit' });
  const cacheMiss = seriesOf(mCache, { result: 'miss' });
  const contents = new ContentCache({
    maxBytes: config.http.cacheMB * 2 ** 20,
    onLoadError: (file, err) => log.warn({ file, err: err.message }, 'could not keep the file in memory; serving it from disk'),
    onLookup: (hit) => (hit ? cacheHit : cacheMiss).inc(),
  });
  let front: RawFront | undefined;
  const mFront = metrics.counter('ltsp_http_raw_front_total', 'Requests answered by the raw HTTP front, and connections it handed to node:http');
  const frontAnswered = seriesOf(mFront, { result: 'answered' });
  const frontHandedOver = seriesOf(mFront, { result: 'handed_over' });
  const app = Fastify({
    // The same server settings fastify applies to a server it creates itself (lib/server.js).
    serverFactory: (handler) => {
      const server = createServer((req, res) => {
        if (!fileFastPath(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = KEEP_ALIVE_MS;
      server.requestTimeout = 0;
      server.setTimeout(0);
      // The raw front takes each connection first and hands node:http the ones (and the
      // requests) it does not answer itself (raw-front.ts).
      const nodeConnection = server.listeners('connection')[0] as ((s: Socket) => void) | undefined;
      if (typeof nodeConnection !== 'function') return server; // not the node:http we know: no front
      server.off('connection', nodeConnection);
      front = rawFront({
        // node:http types, structurally what the file code uses (raw-front.ts RawResponse)
        handle: (req, res) => {
          const taken = fileFastPath(req as unknown as IncomingMessage, res as unknown as ServerResponse);
          if (taken) frontAnswered.inc();
          return taken;
        },
        fallback: (s) => {
          frontHandedOver.inc();
          nodeConnection.call(server, s);
        },
        keepAliveMs: KEEP_ALIVE_MS,
      });
      server.on('connection', front.accept);
      // fastify's close (forceCloseConnections) also closes the connections the front owns
      const closeAll = server.closeAllConnections.bind(server);
      const closeIdle = server.closeIdleConnections.bind(server);
      server.closeAllConnections = () => {
        front?.closeAll();
        closeAll();
      };
      server.closeIdleConnections = () => {
        front?.closeIdle();
        closeIdle();
      };
      return server;
    },
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    keepAliveTimeout: KEEP_ALIVE_MS,
    routerOptions: { maxParamLength: 4096 },
    bodyLimit: 1024,
    return503OnClosing: true,
  });

  app.decorateRequest('track', null as unknown as Track);

  app.addHook('onRequest', (req, reply, done) => {
    const route = (req.routeOptions.config as { label?: RouteLabel } | undefined)?.label ?? 'other';
    req.track = recorder.begin(req.raw, reply.raw, route, () =>
      Number(reply.getHeader('content-length') ?? reply.raw.getHeader('content-length') ?? 0),
    );
    done();
  });

  function sendFailed(res: ServerResponse, t: Track, err: Error, file: string): void {
    log.error({ err, file }, 'file send failed');
    t.reason = err.message;
    if (!res.headersSent) res.writeHead(500).end();
    else res.destroy();
  }

  /** Hands a confined file to serveFile and records the outcome (raw response, no fastify). */
  async function sendFile(res: ServerResponse, req: IncomingMessage, t: Track, file: OpenedFile): Promise<void> {
    try {
      // serveFile fills the track (bytes, outcome, reason) before the response ends.
      await serveFile(req, res, file, t, contents);
    } catch (err) {
      sendFailed(res, t, err as Error, file.path);
    } finally {
      file.close(); // no-op when serveFile closed it
    }
  }

  function refuse(req: FastifyRequest, reply: FastifyReply, status: number, reason: string): FastifyReply {
    req.track.reason = reason;
    req.track.outcome = 'refused';
    return reply.code(status).type('text/plain; charset=utf-8').send(`${reason}\n`);
  }

  /** A served tree: where its files are confined, and the prefix of their names in events. */
  interface Tree {
    root: Root;
    base: string;
    followOutside: boolean;
    prefix: string;
    /** What a raw request path maps to (safeComponents and the cache key are pure functions of it). */
    names: Map<string, NameFacts>;
  }
  interface NameFacts {
    /** The open-file cache's key of the file. */
    key: string;
    /** Its name in events and the access log's boot events (`prefix` + components). */
    file: string;
  }
  /** Distinct raw paths remembered per tree; past this the memo starts over (a client sending random names). */
  const NAMES_MAX = 1024;
  /** Longer raw paths (only fastify's routes pass them) are not remembered. */
  const NAME_MAX_LENGTH = 1024;
  const ltspTree: Tree = { root: tftpRoot, base: ltspDir, followOutside: config.tftp.followSymlinksOutside, prefix: '', names: new Map() };
  const imagesTree: Tree = { root: imagesRoot, base: imagesRoot.dir, followOutside: false, prefix: 'images/', names: new Map() };

  /** The facts of a raw path below `tree`, computed once per distinct path; undefined when safeComponents refuses it. */
  function nameFacts(tree: Tree, rest: string): NameFacts | undefined {
    let n = tree.names.get(rest);
    if (n) return n;
    let parts: string[];
    try {
      parts = safeComponents(rest);
    } catch {
      return undefined; // answerFileAsync reports it
    }
    n = { key: files.keyOf(tree.root, tree.base, parts, tree.followOutside), file: tree.prefix + parts.join('/') };
    if (rest.length > NAME_MAX_LENGTH) return n; // kept small: at most NAMES_MAX × 1 KiB of names per tree
    if (tree.names.size >= NAMES_MAX) tree.names.clear();
    tree.names.set(rest, n);
    return n;
  }

  /**
   * GET/HEAD of a file of `tree` (`rest`: the raw, undecoded path below it), for the fast
   * paths and the fastify routes alike. Never rejects: an unexpected error is a 500.
   */
  function answerFile(req: IncomingMessage, res: ServerResponse, t: Track, rest: string, tree: Tree = ltspTree): Promise<void> | undefined {
    // The common case first, in this turn: a cached open file and a small or cached body.
    const name = nameFacts(tree, rest);
    const cached = name && files.openCachedKey(name.key);
    if (cached) {
      t.file = name.file;
      let done = false;
      try {
        done = serveFileNow(req, res, cached, t, contents);
      } catch (err) {
        sendFailed(res, t, err as Error, cached.path);
        done = true;
      }
      if (done) return void cached.close();
      return sendFile(res, req, t, cached);
    }
    return answerFileAsync(req, res, t, rest, tree);
  }

  async function answerFileAsync(req: IncomingMessage, res: ServerResponse, t: Track, rest: string, tree: Tree): Promise<void> {
    t.file = tree.prefix + rest;
    let file: OpenedFile;
    try {
      const parts = safeComponents(rest);
      t.file = tree.prefix + parts.join('/');
      file = await files.open(tree.root, tree.base, parts, tree.followOutside);
    } catch (err) {
      // the same text reply as `refuse` below, on the raw response
      if (err instanceof PathRefused) return void plain(res, t, err.status, err.reason, {}, req.method === 'HEAD');
      log.error({ err, path: req.url }, 'request failed');
      if (!res.headersSent) {
        plain(res, t, 500, 'internal error', {}, req.method === 'HEAD');
        t.outcome = 'error';
      } else res.destroy();
      t.reason = (err as Error).message;
      return;
    }
    return sendFile(res, req, t, file);
  }

  let closing = false;
  /** How long close() lets responses in flight finish (SIGTERM's drain). */
  let drainMs = 0;
  app.addHook('preClose', async () => {
    // fastify already answers new requests 503 (return503OnClosing); the fast paths step aside
    // for it, idle keep-alive connections go now, responses in flight get up to drainMs
    // (a kernel or image download mid-boot), then fastify closes every connection left.
    closing = true;
    front?.stopTaking();
    app.server.closeIdleConnections();
    const until = performance.now() + drainMs;
    while (recorder.inFlight() > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  });

  /**
   * node:http request handler in front of fastify: answers plain file GET/HEADs itself
   * (no routing, hooks, per-request child logger or reply objects), returns false for
   * everything else. While closing, fastify answers (503).
   */
  function fileFastPath(req: IncomingMessage, res: ServerResponse): boolean {
    if (closing || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const p = rawPath(req);
    if (!FAST_PATH.test(p) || p === '/ltsp/ltsp.ipxe') return false;
    if (p.startsWith('/ltsp/images/')) return imageFastPath(req, res, p.slice('/ltsp/images/'.length));
    void answerFile(req, res, recorder.begin(req, res, 'file'), p.slice('/ltsp/'.length));
    return true;
  }

  /**
   * An image request that will be served (images on, client allowed, a valid token for a
   * plain `<name>.img`) goes the file path's way: squashfs over HTTP is where small ranges
   * come from in real boots. Every policy refusal (images off, client, name, token) is left
   * to the fastify route, which words and logs it as before; a missing file is the same
   * 404 text either way (answerFile).
   */
  function imageFastPath(req: IncomingMessage, res: ServerResponse, rest: string): boolean {
    if (!config.http.images) return false;
    const m = /^([^/]+)\.img$/.exec(rest);
    if (!m) return false;
    const ip = clientIp(req);
    if (!inSubnets(ip, allow.subnets)) return false;
    const q = (req.url ?? '').indexOf('?');
    const given = q < 0 ? [] : new URLSearchParams((req.url ?? '').slice(q + 1)).getAll('token');
    if (given.length !== 1 || !tokens.verify(m[1]!, ip, given[0]).ok) return false;
    void answerFile(req, res, recorder.begin(req, res, 'image'), rest, imagesTree);
    return true;
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
          const file = await files.open(tftpRoot, ltspDir, ['ltsp.ipxe'], config.tftp.followSymlinksOutside);
          reply.hijack();
          return await sendFile(reply.raw, req.raw, req.track, file);
        } catch (err) {
          if (err instanceof PathRefused) return refuse(req, reply, err.status, err.reason);
          throw err;
        }
      }
      const sock = req.raw.socket;
      const reached = reachedAs(req.headers.host, sock.localAddress ?? '127.0.0.1', sock.localPort ?? config.http.port);
      const text = await script({ clientIp: clientIp(req.raw), mac, ...reached });
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
      const rest = rawPath(req.raw).slice('/ltsp/images/'.length);
      req.track.file = `images/${rest}`;
      if (!config.http.images) return refuse(req, reply, 403, 'images over HTTP are off (http.images)');
      const ip = clientIp(req.raw);
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
      reply.hijack();
      await answerFile(req.raw, reply.raw, req.track, rest, imagesTree); // `rest` undecoded: decoded once, there
    },
  });

  // --- everything else under TFTP_DIR/ltsp ------------------------------------------
  app.route({
    method: ['GET', 'HEAD'],
    url: '/ltsp/*',
    config: { label: 'file' },
    handler: async (req, reply) => {
      reply.hijack();
      await answerFile(req.raw, reply.raw, req.track, rawPath(req.raw).slice('/ltsp/'.length));
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
    close: async (drain = 0) => {
      drainMs = drain;
      await app.close();
      recorder.flush();
      files.clear();
      contents.clear();
    },
  };
}
