/**
 * Signed, expiring tokens for squashfs image URLs.
 *
 * An LTSP image holds the system's /etc/shadow, so when images are served over HTTP
 * (config.http.images) a URL only works for the client it was generated for and only
 * until it expires. The iPXE script generator decorates each image URL it hands out with
 * `?token=<expiry>.<mac>`, where mac = HMAC-SHA256(secret, image \n clientIp \n expiry),
 * base64url. The secret is config.http.tokenSecret, or a random per-process one (then
 * tokens die with the process, which is fine: the client fetches a fresh script on boot).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/index.js';

export type TokenCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'bad signature' };

export interface ImageTokens {
  /** Token for `image` (e.g. 'x86_64', no .img) fetched by `clientIp`, valid for the configured TTL. */
  sign(image: string, clientIp: string, nowMs?: number): string;
  verify(image: string, clientIp: string, token: string | undefined, nowMs?: number): TokenCheck;
  /** `url` with `token=` appended: the URL decoration hook for the iPXE script generator. */
  decorate(url: string, image: string, clientIp: string, nowMs?: number): string;
}

const TOKEN = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

export function createImageTokens(opts: { secret?: string; ttlSeconds: number }): ImageTokens {
  const key = opts.secret !== undefined && opts.secret !== '' ? Buffer.from(opts.secret, 'utf8') : randomBytes(32);
  const mac = (image: string, ip: string, expiry: number) =>
    createHmac('sha256', key).update(`${image}\n${ip}\n${expiry}`).digest();

  const sign = (image: string, clientIp: string, nowMs = Date.now()) => {
    const expiry = Math.floor(nowMs / 1000) + opts.ttlSeconds;
    return `${expiry}.${mac(image, clientIp, expiry).toString('base64url')}`;
  };

  return {
    sign,
    verify(image, clientIp, token, nowMs = Date.now()) {
      if (token === undefined || token === '') return { ok: false, reason: 'missing' };
      const m = TOKEN.exec(token);
      if (!m) return { ok: false, reason: 'malformed' };
      const expiry = Number(m[1]);
      const given = Buffer.from(m[2]!, 'base64url');
      // Node decodes leniently (the last char's spare bits are ignored): accept one spelling only.
      if (given.toString('base64url') !== m[2]) return { ok: false, reason: 'malformed' };
      const want = mac(image, clientIp, expiry);
      // Check the signature before the expiry so a forged token never learns anything.
      if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, reason: 'bad signature' };
      if (Math.floor(nowMs / 1000) > expiry) return { ok: false, reason: 'expired' };
      return { ok: true };
    },
    decorate(url, image, clientIp, nowMs) {
      return `${url}${url.includes('?') ? '&' : '?'}token=${sign(image, clientIp, nowMs)}`;
    },
  };
}

/** Tokens from the HTTP section of the config. */
export function imageTokensFromConfig(config: Config): ImageTokens {
  return createImageTokens({ secret: config.http.tokenSecret, ttlSeconds: config.http.tokenTtlSeconds });
}
