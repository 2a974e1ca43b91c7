// Summarises cache-tests (cache-tests.fyi) results: our runs beside the suite's published ones.
//   node bench/cache_tests_report.mjs SUITE_DIR RESULTS_DIR NAME...
// RESULTS_DIR/NAME.json are the raw `npm run cli` outputs of our runs. Every result is
// classified with the suite's own determineTestResult, so our counts and the published ones
// mean the same thing: once with dependencies honoured (what the site shows: a test whose
// prerequisite failed is not scored) and once with each test scored on its own (which shows
// the failures a failed prerequisite hides). browser_only tests are skipped: every cache here
// is a reverse proxy, which the client also runs cdn_only tests on. Failing tests are listed
// for the runs named in CT_LIST (default: scalegate).
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, resultsDir, ...ours] = process.argv.slice(2)
if (!suiteDir || !resultsDir || ours.length === 0) {
  console.error('usage: node cache_tests_report.mjs SUITE_DIR RESULTS_DIR NAME...')
  process.exit(2)
}
const suiteUrl = p => pathToFileURL(path.resolve(suiteDir, p)).href
const suites = (await import(suiteUrl('tests/index.mjs'))).default
const { determineTestResult, resultTypes: T } = await import(suiteUrl('test-engine/lib/results.mjs'))
const published = (await import(suiteUrl('results/index.mjs'))).default

// the published caches to show, in this order (file stem in results/)
const PUBLISHED = ['nginx', 'haproxy', 'varnish', 'squid', 'trafficserver', 'apache', 'caddy', 'fastly']

const tests = []
for (const suite of suites) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue
    tests.push(test)
  }
}

function classify (results, honorDeps) {
  const c = { reqPass: 0, reqFail: 0, optPass: 0, optFail: 0, chkYes: 0, chkNo: 0, setup: 0, harness: 0, dep: 0, untested: 0 }
  const lists = { reqFail: [], optFail: [], setup: [], harness: [], dep: [] }
  for (const test of tests) {
    const r = determineTestResult(suites, test.id, results, honorDeps)
    const kind = test.kind || 'required'
    let key
    if (r === T.pass) key = kind === 'optimal' ? 'optPass' : 'reqPass'
    else if (r === T.fail) key = 'reqFail'
    else if (r === T.optional_fail) key = 'optFail'
    else if (r === T.yes) key = 'chkYes'
    else if (r === T.no) key = 'chkNo'
    else if (r === T.setup_fail || r === T.retry) key = 'setup'
    else if (r === T.harness_fail) key = 'harness'
    else if (r === T.dependency_fail) key = 'dep'
    else key = 'untested'
    c[key]++
    if (lists[key]) lists[key].push({ test, kind, result: results[test.id] })
  }
  return { c, lists }
}

const runs = []
for (const name of ours) {
  const file = path.join(resultsDir, `${name}.json`)
  const results = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null
  runs.push({ name, label: `${name} (this run)`, results })
}
for (const stem of PUBLISHED) {
  const meta = published.find(p => p.file === `${stem}.json`)
  const file = path.join(suiteDir, 'results', `${stem}.json`)
  if (!fs.existsSync(file)) continue
  const label = meta ? `${meta.name} ${meta.version} (published)` : `${stem} (published)`
  runs.push({ name: stem, label, results: JSON.parse(fs.readFileSync(file, 'utf8')) })
}

const cols = [
  ['req pass', 'reqPass'], ['req fail', 'reqFail'], ['opt pass', 'optPass'], ['opt fail', 'optFail'],
  ['check yes', 'chkYes'], ['check no', 'chkNo'], ['setup', 'setup'], ['harness', 'harness'],
  ['dep fail', 'dep'], ['not run', 'untested']
]
const w0 = Math.max(5, ...runs.map(r => r.label.length))
function table (title, honorDeps) {
  const head = 'cache'.padEnd(w0) + cols.map(([h]) => ' | ' + h).join('')
  console.log(`\n${title}`)
  console.log(head)
  console.log('-'.repeat(head.length))
  for (const r of runs) {
    let cells = ' | (no results)'
    if (r.results) {
      const { c } = classify(r.results, honorDeps)
      cells = cols.map(([h, k]) => ' | ' + String(c[k]).padStart(h.length)).join('')
    }
    console.log(r.label.padEnd(w0) + cells)
  }
}
console.log(`cache-tests: ${tests.length} tests (browser_only skipped), classified by the suite's determineTestResult`)
table('As cache-tests.fyi shows them (dependencies honoured: "dep fail" = a prerequisite test failed, not scored)', true)
table('Each test scored on its own (dependencies ignored)', false)
console.log('(setup: the test\'s own setup checks failed, e.g. the cache did not store what the test needs)')

// what developers need: the tests each listed run fails, scored on their own, with the
// assertion message; "[dep]" marks those the site hides behind a failed prerequisite
const listed = (process.env.CT_LIST ?? 'scalegate').split(/[ ,]+/).filter(Boolean)
const short = s => (s || '').replace(/\s+/g, ' ').slice(0, 140)
for (const r of runs.slice(0, ours.length)) {
  if (!r.results || !listed.includes(r.name)) continue
  const site = classify(r.results, true)
  const hidden = new Set(site.lists.dep.map(e => e.test.id))
  const { lists } = classify(r.results, false)
  const sections = [
    ['failing required tests', lists.reqFail],
    ['failing optimal tests', lists.optFail],
    ['setup failures', lists.setup],
    ['harness errors', lists.harness]
  ]
  for (const [title, list] of sections) {
    if (list.length === 0) continue
    console.log(`\n${r.label}: ${title} (${list.length})`)
    for (const { test, kind, result } of list) {
      const why = Array.isArray(result) ? ` -- ${short(result[1])}` : ''
      const k = title.startsWith('failing') ? '' : ` [${kind}]`
      const dep = hidden.has(test.id) ? ' [dep]' : ''
      console.log(`  ${test.id}${k}${dep}: ${test.name}${why}`)
    }
  }
}
