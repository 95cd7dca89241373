/**
 * A real local HTTP server that serves IdP metadata (or misbehaves on purpose), for the metadata URL
 * tests. Nothing is mocked: the SP fetches from it over the loopback interface.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the server does with a request (any path). */
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A running server whose behaviour a test changes as it goes. */
export interface MetadataServer {
  port: number;
  /** `http://localhost:PORT` + path. */
  url(path: string): string;
  /** Replaces what the server does from the next request on. */
  handle(handler: Handler): void;
  /** Serves `body` as metadata XML on every path. */
  serve(body: string, contentType?: string): void;
  /** Requests received so far (method and path with query). */
  requests: string[];
  /** TCP connections accepted so far (a refused fetch must not even connect). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startMetadataServer(): Promise<MetadataServer> {
  let handler: Handler = (_req, res) => {
    res.writeHead(404).end();
  };
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `http://localhost:${port}${path}`,
    handle: (h) => {
      handler = h;
    },
    serve: (body, contentType = 'text/xml; charset=utf-8') => {
      handler = (_req, res) => {
        res.writeHead(200, { 'Content-Type': contentType }).end(body);
      };
    },
    requests,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `chunk` to `out` for ever (respecting back-pressure) until the peer goes away. */
export function pumpForever(out: NodeJS.WritableStream & { destroyed: boolean }, chunk: Buffer): void {
  const pump = () => {
    while (!out.destroyed && out.write(chunk)) {
      // keep writing until the buffer is full
    }
    if (!out.destroyed) out.once('drain', pump);
  };
  out.on('error', () => {});
  pump();
}
