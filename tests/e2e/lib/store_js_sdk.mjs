// tests/e2e/lib/store_js_sdk.mjs - drives the embedded S3 store with @aws-sdk/client-s3 and lib-storage (default settings).
// Usage: node store_js_sdk.mjs ENDPOINT_PORT DOMAIN ACCESS_KEY SECRET_KEY SMALL_FILE BIG_FILE
// Prints one JSON object with the results; the Python test asserts on them. The SDK computes its default checksums, sends
// stream bodies as STREAMING-UNSIGNED-PAYLOAD-TRAILER (aws-chunked inside Transfer-Encoding: chunked) and, for hostname
// endpoints, addresses buckets virtual-hosted; names under DOMAIN are resolved to 127.0.0.1 by the agent below (nothing
// else on the machine has to resolve them).
import { createReadStream, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import http from "node:http";
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command,
  DeleteObjectsCommand, DeleteBucketCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const [port, domain, accessKeyId, secretAccessKey, smallFile, bigFile] = process.argv.slice(2);
const sha = (b) => createHash("sha256").update(b).digest("hex");

// every name resolves to 127.0.0.1: bucket.DOMAIN included
const lookup = (host, opts, cb) => (opts && opts.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4));
const agent = new http.Agent({ keepAlive: true, lookup });

function client(pathStyle) {
  return new S3Client({
    region: "us-east-1",
    endpoint: pathStyle ? `http://127.0.0.1:${port}` : `http://${domain}:${port}`,
    forcePathStyle: pathStyle,
    credentials: { accessKeyId, secretAccessKey },
    requestHandler: new NodeHttpHandler({ httpAgent: agent }),
  });
}

async function body(out) {
  return Buffer.from(await out.Body.transformToByteArray());
}

async function round(pathStyle, bucket) {
  const s3 = client(pathStyle);
  const r = { bucket };
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const small = readFileSync(smallFile), big = readFileSync(bigFile);
  // a stream body with a known length: STREAMING-UNSIGNED-PAYLOAD-TRAILER with an x-amz-checksum-crc32 trailer
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "stream.bin", Body: createReadStream(smallFile), ContentLength: small.length }));
  const got = await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "stream.bin" })));
  r.stream_len = got.length;
  r.stream_same = got.equals(small);
  // a Buffer body (SHA-256 payload hash and a crc32 header) with metadata
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "dir/buf.txt", Body: Buffer.from("hello world\n"), ContentType: "text/plain",
                                       Metadata: { color: "blue" } }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dir/buf.txt" }));
  r.head_type = head.ContentType;
  r.head_meta = head.Metadata;
  r.head_len = head.ContentLength;
  // lib-storage: a multipart upload in 5 MiB parts
  const up = new Upload({ client: s3, params: { Bucket: bucket, Key: "big.bin", Body: createReadStream(bigFile) }, partSize: 5 * 1024 * 1024 });
  const done = await up.done();
  r.upload_etag = done.ETag;
  const gb = await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin" })));
  r.big_same = sha(gb) === sha(big);
  // a ranged read
  const part = await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin", Range: "bytes=100-199" })));
  r.range_same = part.equals(big.subarray(100, 200));
  const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/" }));
  r.list_keys = (list.Contents || []).map((c) => c.Key);
  r.list_prefixes = (list.CommonPrefixes || []).map((c) => c.Prefix);
  const del = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: "stream.bin" }, { Key: "dir/buf.txt" }, { Key: "big.bin" }] } }));
  r.deleted = (del.Deleted || []).length;
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  return r;
}

const out = {};
try {
  out.path = await round(true, "jspath");
  out.virtual = await round(false, "jsvirtual");
} catch (e) {
  out.error = `${e.name}: ${e.message} (${e.$metadata ? e.$metadata.httpStatusCode : ""})`;
}
console.log(JSON.stringify(out));
agent.destroy();
