// tests/e2e/lib/lambda_invoke_js_sdk.mjs - invokes the hook `gen` through @aws-sdk/client-lambda (SigV4 with the store's credentials).
// Usage: node lambda_invoke_js_sdk.mjs ENDPOINT ACCESS_KEY SECRET_KEY
// Prints one JSON object (StatusCode, ExecutedVersion, Payload, Log, and Error: the same for a throwing call); the Python test
// asserts on it.
import { LambdaClient, InvokeCommand } from "@aws-sdk/client-lambda";

const [endpoint, accessKeyId, secretAccessKey] = process.argv.slice(2);
const client = new LambdaClient({ region: "us-east-1", endpoint, credentials: { accessKeyId, secretAccessKey } });
const text = (u8) => Buffer.from(u8 ?? []).toString("utf8");

const ok = await client.send(
  new InvokeCommand({ FunctionName: "gen", Payload: Buffer.from(JSON.stringify({ x: 7 })), LogType: "Tail" }),
);
const bad = await client.send(new InvokeCommand({ FunctionName: "gen", Payload: Buffer.from('{"throw": "js"}') }));
console.log(
  JSON.stringify({
    StatusCode: ok.StatusCode,
    ExecutedVersion: ok.ExecutedVersion,
    Payload: text(ok.Payload),
    Log: Buffer.from(ok.LogResult ?? "", "base64").toString("utf8"),
    Error: { StatusCode: bad.StatusCode, FunctionError: bad.FunctionError, Payload: text(bad.Payload) },
  }),
);
