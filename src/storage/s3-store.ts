import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
  type S3ClientConfig,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  assertValidKey,
  type Body,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

// Node 20 is what our machines run; the SDK's notice about future releases is not actionable here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/` (may be empty). */
  prefix: string;
  /** MinIO / s3rver endpoint; path-style addressing is used when set. */
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  sse?: 'AES256' | 'aws:kms';
  sseKmsKeyId?: string;
  /** Attempts per request, including the first (the SDK retries 5xx, throttling and SlowDown). */
  maxAttempts?: number;
  /** Objects above this size are uploaded in parts (minimum part size on S3 is 5 MiB). */
  partSize?: number;
}

/** S3 or any S3-compatible server (MinIO, s3rver). Atomicity comes from S3's whole-object PUT. */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(private readonly options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, '')}/` : '';
    this.location = `s3://${this.bucket}/${this.prefix}`;
    const config: S3ClientConfig = {
      region: options.region ?? 'us-east-1',
      maxAttempts: options.maxAttempts ?? 5,
      // Checksums only where S3 requires them: older S3-compatible servers reject the new defaults.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint) {
      config.endpoint = options.endpoint;
      config.forcePathStyle = true;
    }
    if (options.credentials) config.credentials = options.credentials;
    this.client = new S3Client(config);
  }

  private fullKey(key: string): string {
    assertValidKey(key);
    return this.prefix + key;
  }

  private encryption(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
    if (!this.options.sse) return {};
    return {
      ServerSideEncryption: this.options.sse,
      ...(this.options.sse === 'aws:kms' && this.options.sseKmsKeyId
        ? { SSEKMSKeyId: this.options.sseKmsKeyId }
        : {}),
    };
  }

  async get(key: string): Promise<Buffer> {
    const stream = await this.getStream(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
      );
      return out.Body as Readable;
    } catch (error) {
      throw this.mapError(error, key);
    }
  }

  async put(key: string, body: Body, options: PutOptions = {}): Promise<void> {
    const Key = this.fullKey(key);
    const common = { Bucket: this.bucket, Key, ContentType: options.contentType, ...this.encryption() };
    if (body instanceof Readable) {
      // lib-storage buffers one part at a time: a single PUT below the part size, multipart above.
      const upload = new Upload({
        client: this.client,
        params: { ...common, Body: body },
        partSize: this.options.partSize ?? 8 * 1024 * 1024,
        queueSize: 2,
        leavePartsOnError: false,
      });
      await upload.done();
      return;
    }
    await this.client.send(new PutObjectCommand({ ...common, Body: body }));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const pages = paginateListObjectsV2(
      { client: this.client, pageSize: 1000 },
      { Bucket: this.bucket, Prefix: this.prefix + prefix },
    );
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        yield {
          key: object.Key.slice(this.prefix.length),
          size: object.Size ?? 0,
          ...(object.ETag ? { etag: object.ETag.replaceAll('"', '') } : {}),
          ...(object.LastModified ? { lastModified: object.LastModified } : {}),
        };
      }
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      return true;
    } catch (error) {
      if (this.mapError(error, key) instanceof ObjectNotFoundError) return false;
      throw error;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes at most 1,000 keys per request.
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: chunk.map((key) => ({ Key: this.fullKey(key) })), Quiet: true },
        }),
      );
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        throw new Error(
          `could not delete ${failed.length} objects in ${this.location}: ${failed[0]?.Code} ${failed[0]?.Key}`,
        );
      }
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private mapError(error: unknown, key: string): unknown {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404) {
      return new ObjectNotFoundError(key, this.location);
    }
    return error;
  }
}
