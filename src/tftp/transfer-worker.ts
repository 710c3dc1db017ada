/**
 * Worker thread entry for WorkerPoolHost: runs the transfers it is handed with an
 * InProcessHost of its own and posts each summary back to the server thread.
 */
import { parentPort } from 'node:worker_threads';
import { InProcessHost, type WorkerReply, type WorkerRequest } from './transfer-host.js';

const port = parentPort;
if (port) {
  const host = new InProcessHost(
    (id, summary) => port.postMessage({ type: 'end', id, summary } satisfies WorkerReply),
    (fd) => port.postMessage({ type: 'close', fd } satisfies WorkerReply),
    true,
  );
  port.on('message', (m: WorkerRequest) => {
    if (m.type === 'start') host.start(m.id, m.spec);
    else if (m.type === 'abort') host.abort(m.id, m.message, m.tellClient);
  });
}
