// tests/e2e/lib/store_presigned_post.mjs - a browser-style form upload to the embedded S3 store with the JS SDK's
// createPresignedPost (@aws-sdk/s3-presigned-post: a SigV4 POST policy), posted with fetch + FormData as a page would.
// Usage: node store_presigned_post.mjs PORT ACCESS_KEY SECRET_KEY BUCKET KEY_TEMPLATE FILE_NAME CONTENT
// Prints one JSON object: the status, headers and body of the answer, and the fields the SDK produced.
import { S3Client } from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";

const [port, accessKeyId, secretAccessKey, bucket, key, fileName, content] = process.argv.slice(2);
const endpoint = `http://127.0.0.1:${port}`;
const s3 = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
const prefix = key.split("${filename}")[0];
const { url, fields } = await createPresignedPost(s3, {
  Bucket: bucket,
  Key: key,
  Conditions: [["content-length-range", 1, 1000], ["starts-with", "$key", prefix], ["starts-with", "$Content-Type", "text/"],
    { success_action_status: "201" }],
  Fields: { "Content-Type": "text/plain", success_action_status: "201" },
  Expires: 600,
});
const form = new FormData();
for (const [k, v] of Object.entries(fields)) form.append(k, v);
form.append("file", new Blob([content], { type: "text/plain" }), fileName);
const res = await fetch(url, { method: "POST", body: form });
console.log(JSON.stringify({ url, fields, status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }));
