// tests/e2e/lib/lambda_js_sdk.mjs - publish-version and friends through @aws-sdk/client-lambda against edgehook's Lambda API.
// Usage: node lambda_js_sdk.mjs ENDPOINT ACCESS_KEY SECRET_KEY FUNCTION WRONG_SHA256
// Prints one JSON object with the results; the Python test asserts on them.
import {
  LambdaClient, PublishVersionCommand, GetFunctionConfigurationCommand, ListVersionsByFunctionCommand,
} from "@aws-sdk/client-lambda";

const [endpoint, accessKeyId, secretAccessKey, fn, wrongSha] = process.argv.slice(2);
const client = (secret) => new LambdaClient({
  region: "us-east-1", endpoint, credentials: { accessKeyId, secretAccessKey: secret }, maxAttempts: 1,
});
const ok = client(secretAccessKey);
const errorName = async (p) => {
  try {
    await p;
    return null;
  } catch (e) {
    return e.name;
  }
};

const out = {};
try {
  out.wrong_sha = await errorName(ok.send(new PublishVersionCommand({ FunctionName: fn, CodeSha256: wrongSha })));
  const latest = await ok.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
  const pub = await ok.send(new PublishVersionCommand({ FunctionName: fn, CodeSha256: latest.CodeSha256, Description: "js" }));
  out.published = { Version: pub.Version, CodeSha256: pub.CodeSha256, FunctionArn: pub.FunctionArn };
  out.missing = await errorName(ok.send(new PublishVersionCommand({ FunctionName: "no-such-function" })));
  out.bad_secret = await errorName(client("wrong").send(new GetFunctionConfigurationCommand({ FunctionName: fn })));
  const vs = await ok.send(new ListVersionsByFunctionCommand({ FunctionName: fn }));
  out.listed = vs.Versions.length;
} catch (e) {
  out.error = `${e.name}: ${e.message}`;
}
console.log(JSON.stringify(out));
