import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny loopback HTTP server for the fake ad platforms. Each fake gets parsed requests (JSON,
 * form, multipart and query parameters), records them, and answers with what its handler returns.
 * Real HTTP on 127.0.0.1 only: connectors run their real code path, fetch included.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Parsed body: JSON value, form fields, or `{fields, files}` for multipart. */
  body: unknown;
  rawBody: string;
  contentType: string;
}

export interface FakeResponse {
  status: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export interface FakeHttp {
  url: string;
  requests: RecordedRequest[];
  /** Delay before every answer (to exercise client timeouts). */
  setLatency(ms: number): void;
  close(): Promise<void>;
}

export type Handler = (request: RecordedRequest) => FakeResponse | Promise<FakeResponse>;

export async function startFakeHttp(handler: Handler): Promise<FakeHttp> {
  const requests: RecordedRequest[] = [];
  let latencyMs = 0;
  const server = createServer(async (req, res) => {
    try {
      const recorded = await record(req);
      requests.push(recorded);
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
      if (res.destroyed) return;
      send(res, await handler(recorded));
    } catch (error) {
      send(res, {
        status: 500,
        json: { error: { message: `fake server error: ${(error as Error).message}` } },
      });
    }
  });
  // Keep-alive sockets would hold `close()` open after a test.
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setLatency(ms) {
      latencyMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, response: FakeResponse): void {
  const headers: Record<string, string> = { ...response.headers };
  let body = response.text ?? '';
  if (response.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(response.json);
  }
  res.writeHead(response.status, headers);
  res.end(body);
}

async function record(req: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const rawBody = raw.toString('utf8');
  const url = new URL(req.url ?? '/', 'http://fake');
  const contentType = String(req.headers['content-type'] ?? '');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
    body: parseBody(contentType, rawBody, raw),
    rawBody,
    contentType,
  };
}

function parseBody(contentType: string, text: string, raw: Buffer): unknown {
  if (text.length === 0) return undefined;
  if (contentType.includes('application/json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return { __invalid_json: true };
    }
  }
  if (contentType.includes('application/x-www-form-urlencoded'))
    return Object.fromEntries(new URLSearchParams(text));
  if (contentType.includes('multipart/form-data')) {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
    return parseMultipart(raw, boundary?.[1] ?? boundary?.[2] ?? '');
  }
  return text;
}

export interface Multipart {
  fields: Record<string, string>;
  files: Record<string, { filename: string; content: Buffer; contentType: string }>;
}

/** Enough of RFC 7578 for what fetch's FormData sends. */
export function parseMultipart(raw: Buffer, boundary: string): Multipart {
  const out: Multipart = { fields: {}, files: {} };
  if (!boundary) return out;
  const delimiter = Buffer.from(`--${boundary}`);
  let start = raw.indexOf(delimiter);
  while (start !== -1) {
    const next = raw.indexOf(delimiter, start + delimiter.length);
    if (next === -1) break;
    const part = raw.subarray(start + delimiter.length + 2, next - 2); // skip CRLF after delimiter / before next
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const head = part.subarray(0, headerEnd).toString('utf8');
      const content = part.subarray(headerEnd + 4);
      const name = /name="([^"]*)"/.exec(head)?.[1];
      const filename = /filename="([^"]*)"/.exec(head)?.[1];
      const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? '';
      if (name !== undefined) {
        if (filename !== undefined)
          out.files[name] = { filename, content: Buffer.from(content), contentType: type };
        else out.fields[name] = content.toString('utf8');
      }
    }
    start = next;
  }
  return out;
}

/** Lowercase 64-hex: what a SHA-256 identifier must look like on the wire. */
export const SHA256_RE = /^[0-9a-f]{64}$/;

/** The params a Graph-style API accepts: query, then JSON / form body, with JSON strings decoded. */
export function mergedParams(request: RecordedRequest): Record<string, unknown> {
  const out: Record<string, unknown> = { ...request.query };
  const body = request.body;
  if (body && typeof body === 'object' && !Array.isArray(body) && !('fields' in body && 'files' in body)) {
    Object.assign(out, body);
  }
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === 'string' && /^[[{]/.test(v)) {
      try {
        out[k] = JSON.parse(v) as unknown;
      } catch {
        // Leave it as a string; the handler will report the shape problem.
      }
    }
  }
  return out;
}
