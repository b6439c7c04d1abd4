/**
 * The web page in headless Chromium (Debian's /usr/bin/chromium through playwright-core): it
 * shows the groups coloured by status with a chart, and when one group stops committing it turns
 * ERR on the open page, without a reload. The cluster is a fake source driven by a timer.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { type Browser, chromium } from 'playwright-core'
import { FakeClusterSource, type RunningMonitor, startMonitor } from '../src/index.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const fake = new FakeClusterSource()
let running: RunningMonitor
let browser: Browser
let driver: NodeJS.Timeout
let doomedCommits = true

before(async () => {
  fake.setLogEnd('orders', [0, 0])
  fake.setMembers('doomed', [
    {
      memberId: 'm-1',
      clientId: 'doomed-1',
      clientHost: '/127.0.0.1',
      assignments: [{ topic: 'orders', partitions: [0, 1] }],
    },
  ])
  // The "cluster": 10 records per partition every 100 ms; both groups commit the log end.
  driver = setInterval(() => {
    fake.produce('orders', 10)
    const end = fake.logEnd('orders')!
    for (const [p, offset] of end.entries()) {
      fake.commit('live', 'orders', p, offset)
      if (doomedCommits) fake.commit('doomed', 'orders', p, offset)
    }
  }, 100)
  running = await startMonitor(
    {
      clusters: { local: { bootstrap: '127.0.0.1:9091', offsetRefresh: 0.1 } },
      evaluator: { intervals: 5 },
      storage: { minDistance: 0 },
      http: { listen: '127.0.0.1:0' },
    },
    { sources: { local: fake }, pageRefreshMs: 200, idlePollMs: 50, log: () => {} },
  )
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
    timeout: 30_000,
  })
})

after(async () => {
  clearInterval(driver)
  await browser?.close()
  await running?.close()
})

describe('the page', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}` }, () => {
  it('turns a group that stops committing to ERR without reloading', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    let navigations = 0
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++
    })
    await page.goto(running.url)
    const doomed = 'article.group[data-cluster="local"][data-group="doomed"]'
    await page.waitForSelector(`${doomed}[data-status="OK"]`, { timeout: 10_000 })
    await page.waitForSelector('article.group[data-group="live"][data-status="OK"]', { timeout: 10_000 })
    // Partitions with their lag and time lag, an owner, and the chart (vega from /assets).
    const rows = await page.$$eval(`${doomed} tr[data-partition]`, (trs) =>
      trs.map((tr) => [
        tr.getAttribute('data-partition'),
        tr.querySelector('.lag')?.textContent,
        tr.querySelector('.lag-seconds')?.textContent,
      ]),
    )
    assert.deepEqual(
      rows.map((r) => r[0]),
      ['orders-0', 'orders-1'],
    )
    assert.ok(rows.every((r) => r[1] !== undefined && r[2] !== undefined))
    assert.match((await page.textContent(doomed)) ?? '', /doomed-1/)
    await page.waitForSelector(`${doomed} .chart svg`, { timeout: 10_000 })
    await page.evaluate(() => {
      ;(globalThis as unknown as { marker: number }).marker = 42
    })

    doomedCommits = false
    const stoppedAt = Date.now()
    await page.waitForSelector(`${doomed}[data-status="ERR"]`, { timeout: 15_000 })
    console.log(`page: doomed turned ERR ${Date.now() - stoppedAt} ms after it stopped committing`)
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker),
      42,
      'the page did not reload',
    )
    assert.equal(navigations, 1)
    assert.equal(await page.getAttribute('article.group[data-group="live"]', 'data-status'), 'OK')
    const badges = await page.$$eval(`${doomed} tr[data-partition] .badge`, (bs) =>
      bs.map((b) => b.textContent),
    )
    assert.deepEqual(badges, ['STOP', 'STOP'])
    const colour = await page.$eval(
      doomed,
      (a) =>
        (
          globalThis as unknown as { getComputedStyle(e: unknown): { borderLeftColor: string } }
        ).getComputedStyle(a).borderLeftColor,
    )
    assert.equal(colour, 'rgb(198, 40, 40)')
    assert.deepEqual(errors, [])
  })
})
