import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

/**
 * A redis-server of a test's own: a spare port, a password, optionally TLS with a throwaway
 * certificate made with openssl in the server's temporary directory. Nothing is persisted, and
 * `stop()` ends exactly this process (never the shared Redis on 6379).
 */
export interface TestRedisServer {
  /** `redis://:<password>@127.0.0.1:<port>` (add `/10` for a database). */
  url: string;
  /** `rediss://...` on the TLS port, when started with TLS. */
  tlsUrl?: string;
  /** PEM file of the certificate's issuer: give it to Node as NODE_EXTRA_CA_CERTS, or as `tls.ca`. */
  caFile?: string;
  password: string;
  port: number;
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * True when the installed redis-server was built with TLS (Debian's is: it links OpenSSL). A build
 * without it refuses `tls-port`; the TLS tests are then skipped, and docs/operations.md says so.
 */
export async function redisSupportsTls(): Promise<boolean> {
  try {
    const { stdout } = await run('ldd', [(await run('sh', ['-c', 'command -v redis-server'])).stdout.trim()]);
    return /libssl/.test(stdout);
  } catch {
    return false;
  }
}

async function makeCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'redis.crt');
  const key = join(dir, 'redis.key');
  // Self-signed for 127.0.0.1 and localhost: it is its own issuer, so it is also the CA file.
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

export async function startTestRedis(
  options: { tls?: boolean; password?: string } = {},
): Promise<TestRedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'audience-sync-redis-'));
  const password = options.password ?? `pw-${Math.random().toString(36).slice(2)}-secret`;
  const port = await sparePort();
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'];
  args.push('--dir', dir);
  let tlsPort: number | undefined;
  let caFile: string | undefined;
  if (options.tls) {
    const { cert, key } = await makeCertificate(dir);
    tlsPort = await sparePort();
    caFile = cert;
    args.push('--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key);
    args.push('--tls-ca-cert-file', cert, '--tls-auth-clients', 'no');
  }
  // The password goes in a config file, not on the command line, to keep it out of the process list.
  const conf = join(dir, 'redis.conf');
  await writeFile(conf, `requirepass ${password}\n`);
  const child: ChildProcess = spawn('redis-server', [conf, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `redis://:${password}@127.0.0.1:${port}`;
  const server: TestRedisServer = {
    url,
    ...(tlsPort ? { tlsUrl: `rediss://:${password}@127.0.0.1:${tlsPort}` } : {}),
    ...(caFile ? { caFile } : {}),
    password,
    port,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') break;
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) {
        await server.stop();
        throw new Error(`redis-server did not start on port ${port}: ${output.slice(-500)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      client.disconnect();
    }
  }
  return server;
}
