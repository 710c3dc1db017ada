/**
 * The one typed configuration every service and command reads.
 *
 * It is produced by src/config/load.ts from (low to high precedence) built-in defaults,
 * /etc/ltsp/ltsp.conf ([common] then [server] sections) and command-line flags.
 * LTSP's own names are kept where LTSP has them (BASE_DIR, TFTP_DIR, ...); the
 * ltsp-ts service keys are documented in README ("ltsp.conf keys").
 */
import { z } from 'zod';

export const DhcpModeSchema = z.enum(['proxy', 'full', 'off']);
export type DhcpMode = z.infer<typeof DhcpModeSchema>;

const port = z.number().int().min(0).max(65535);

export const ConfigSchema = z.object({
  configFile: z.string(),
  baseDir: z.string().default('/srv/ltsp'),
  tftpDir: z.string().default('/srv/tftp'),
  homeDir: z.string().default('/home'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Interfaces to serve (empty = every IPv4 interface except loopback). */
  interfaces: z.array(z.string()).default([]),
  /** Override of the server address handed to clients (option 54, siaddr, script URLs). */
  serverIp: z.string().optional(),
  dhcp: z
    .object({
      mode: DhcpModeSchema.default('proxy'),
      port: port.default(67),
      pxePort: port.default(4011),
      /** Client allow-list (MACs or globs like 3c:07:71:*); empty = answer every PXE client. */
      allowClients: z.array(z.string()).default([]),
      /** Boot file per architecture name (see protocols/dhcp/arch.ts); '' disables an arch. */
      bootFiles: z.record(z.string(), z.string()).default({}),
      /** Full-DHCP mode only. */
      range: z
        .object({ start: z.string(), end: z.string(), leaseSeconds: z.number().int().positive().default(43200) })
        .optional(),
      leaseFile: z.string().default('/var/lib/ltsp-ts/leases.journal'),
      router: z.string().optional(),
      dnsServers: z.array(z.string()).default([]),
    })
    .prefault({}),
  tftp: z
    .object({
      enabled: z.boolean().default(true),
      port: port.default(69),
      address: z.string().default('0.0.0.0'),
      maxBlksize: z.number().int().min(8).max(65464).default(65464),
      maxWindowsize: z.number().int().min(1).max(65535).default(64),
      maxTransfers: z.number().int().positive().default(500),
      /** Follow symlinks that leave TFTP_DIR (LTSP's Raspberry Pi layout needs it). */
      followSymlinksOutside: z.boolean().default(false),
      /** Initial retransmit timeout in ms (doubles per retry) and retries before giving up. */
      retransmitMs: z.number().int().positive().default(1000),
      retries: z.number().int().min(1).default(5),
    })
    .prefault({}),
  http: z
    .object({
      enabled: z.boolean().default(true),
      port: port.default(8080),
      address: z.string().default('0.0.0.0'),
      /** Serve BASE_DIR/images/*.img over HTTP (off: the image holds /etc/shadow). */
      images: z.boolean().default(false),
      imagesAllow: z.array(z.string()).default([]),
      tokenSecret: z.string().optional(),
      tokenTtlSeconds: z.number().int().positive().default(3600),
      /** Memory for hot boot files served from RAM (src/http/content-cache.ts); 0 = off. */
      cacheMB: z.number().int().min(0).default(256),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;

/** Per-client settings as LTSP resolves them: KEY -> value (already unquoted). */
export type ClientSettings = Record<string, string>;
