/**
 * Errors of the build module that a user can act on (bad image name, missing tool, not
 * root, ...). The CLI prints the message without a stack trace and exits with `exitCode`.
 */
export class ImageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

/** The build was stopped by a signal (Ctrl-C, SIGTERM): exit 128 + signal number, like a shell. */
export class InterruptedError extends ImageError {
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}; nothing was changed`, signal === 'SIGINT' ? 130 : 143);
    this.name = 'InterruptedError';
  }
}
