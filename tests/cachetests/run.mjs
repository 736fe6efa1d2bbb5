// tests/cachetests/run.mjs - runs the vendored http-tests/cache-tests client (vendor/) against a cache and writes one JSON
// object: {id: {suite, kind, result, detail}} where result is the suite's own verdict (vendor/test-engine/lib/results.mjs,
// dependencies not honoured): pass, fail (required), optional_fail (optimal), yes/no (check), setup_fail, harness_fail.
// Usage: node run.mjs BASE_URL OUT.json [TEST_ID...]    (run.py starts the test server and edgehook, then this)
import fs from 'fs'
import { runTests, getResults } from './vendor/test-engine/client/runner.mjs'
import { determineTestResult, resultTypes } from './vendor/test-engine/lib/results.mjs'
import suites from './vendor/tests/index.mjs'

const [base, out, ...only] = process.argv.slice(2)
if (!base || !out) {
  console.error('usage: node run.mjs BASE_URL OUT.json [TEST_ID...]')
  process.exit(2)
}

let selected = suites
if (only.length) {
  selected = suites.map(s => ({ ...s, tests: s.tests.filter(t => only.includes(t.id)) })).filter(s => s.tests.length)
}

// every test at once (the suite's default is 25 at a time): most of a run is the 3 s pauses of some tests
await runTests(selected, false, base, 1000)
const results = getResults()
const names = new Map(Object.entries(resultTypes).map(([k, v]) => [v, k]))
const report = {}
for (const suite of selected) {
  for (const test of suite.tests) {
    if (!(test.id in results)) continue // browser_only: not run against a proxy
    const r = results[test.id]
    report[test.id] = {
      suite: suite.id,
      kind: test.kind || 'required',
      result: names.get(determineTestResult(suites, test.id, results, false)) || 'harness_fail',
      detail: r === true ? '' : String(Array.isArray(r) ? r.slice(0, 2).join(': ') : r)
    }
  }
}
fs.writeFileSync(out, JSON.stringify(report, null, 1))
