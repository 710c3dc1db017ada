/**
 * Boot events: every service reports what it did for a client here, and the boot
 * timeline (src/serve/timeline.ts) joins them per client: DHCP by MAC, TFTP/HTTP by
 * the IP the DHCP exchange revealed.
 */
export type BootService = 'dhcp' | 'tftp' | 'http';

export interface BootEvent {
  /** ms since epoch */
  time: number;
  service: BootService;
  /** e.g. 'offer', 'ack', 'ignore', 'transfer', 'request' */
  kind: string;
  mac?: string;
  /** client IP address (source address of TFTP/HTTP, ciaddr/yiaddr of DHCP) */
  ip?: string;
  file?: string;
  bytes?: number;
  durationMs?: number;
  /** 'ok' | 'error' | 'aborted' | reason text */
  outcome?: string;
  detail?: Record<string, unknown>;
}

export type BootEventSink = (e: BootEvent) => void;

export const noEvents: BootEventSink = () => {};
