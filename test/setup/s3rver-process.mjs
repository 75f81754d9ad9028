// Runs s3rver in its own process. s3rver encrypts ListObjectsV2 continuation tokens with DES,
// which OpenSSL 3 only offers through its legacy provider: the parent starts this file with
// `--openssl-legacy-provider`, and the test processes themselves keep Node's defaults.
// Prints one JSON line `{"port":N}` when ready; exits when its stdin closes (the parent ended).
import S3rver from 's3rver';

const directory = process.argv[2];
if (!directory) {
  process.stderr.write('usage: s3rver-process.mjs DIRECTORY\n');
  process.exit(2);
}
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);

let closing = false;
async function stop() {
  if (closing) return;
  closing = true;
  await server.close();
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
