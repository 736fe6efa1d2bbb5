// tests/e2e/lib/s3rver_origin.js - runs @20minutes/s3rver (a SigV4-checking S3 server, S3.md section 4) as an origin for tests.
//
// usage: node s3rver_origin.js DATA_DIR REQUEST_LOG
// Listens on 127.0.0.1 with an ephemeral port and prints `{"port": N}` on the first line of stdout. Every request is appended to
// REQUEST_LOG as one JSON line {method, url, host} before s3rver sees it, so a test can count what reached the origin.
// Credentials: access key S3RVER, secret S3RVER (s3rver's built-in account). Virtual-hosted addressing: BUCKET.s3.localhost.
'use strict'
const fs = require('node:fs')
const http = require('node:http')
const S3rver = require('@20minutes/s3rver')

const [dir, logPath] = process.argv.slice(2)
fs.mkdirSync(dir, { recursive: true })
const log = fs.openSync(logPath, 'a')
// serviceEndpoint 'localhost': BUCKET.s3.localhost is virtual-hosted, 127.0.0.1 and localhost are path style
const app = new S3rver({ directory: dir, silent: true, serviceEndpoint: 'localhost', vhostBuckets: false })
const handle = app.callback()
const server = http.createServer((req, res) => {
  fs.writeSync(log, JSON.stringify({ method: req.method, url: req.url, host: req.headers.host || '' }) + '\n')
  handle(req, res)
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n')
})
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
