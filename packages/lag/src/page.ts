/**
 * The web page at `/`: every cluster, its groups coloured by status, each group's partitions with
 * their lag and lag in time, and a chart of each partition's lag over the window (vega-lite,
 * rendered in the browser from /assets). It listens to /ui/events (server-sent snapshots) and
 * updates in place, without reloading; without EventSource it polls /ui/snapshot.
 *
 * Names come from the cluster (groups, topics): the script builds the DOM with textContent only.
 * Test hooks: every group is `article.group[data-cluster][data-group][data-status]`.
 */

const css = `
:root { --ok: #2e7d32; --warn: #ef6c00; --err: #c62828; --none: #757575; --bg: #fafafa; --line: #ddd; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: #222; }
body > header { display: flex; gap: 1rem; align-items: baseline; padding: .75rem 1.25rem; background: #263238; color: #fff; }
body > header h1 { font-size: 1.1rem; margin: 0; }
body > header .muted { color: #b0bec5; font-size: .85rem; }
main { padding: 1rem 1.25rem; }
section.cluster > h2 { font-size: 1.05rem; margin: .5rem 0; }
section.cluster > h2 small { font-weight: normal; color: #666; }
.error { color: var(--err); margin: .25rem 0 .5rem; }
.groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(36rem, 1fr)); gap: .75rem; }
article.group { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--none); border-radius: 4px; padding: .5rem .75rem; }
article.group[data-status="OK"] { border-left-color: var(--ok); }
article.group[data-status="WARN"] { border-left-color: var(--warn); }
article.group[data-status="ERR"] { border-left-color: var(--err); }
article.group > header { display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap; }
article.group h3 { margin: 0; font-size: 1rem; }
.badge { color: #fff; border-radius: 3px; padding: 0 .4rem; font-weight: 600; font-size: .8rem; background: var(--none); }
.badge.OK { background: var(--ok); } .badge.WARN { background: var(--warn); }
.badge.ERR, .badge.STOP, .badge.STALL, .badge.REWIND { background: var(--err); }
.summary { color: #555; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; margin-top: .4rem; font-size: .85rem; }
th, td { text-align: right; padding: .1rem .4rem; border-bottom: 1px solid #eee; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
.chart { margin-top: .4rem; min-height: 1rem; }
.partitions { overflow-x: auto; }
.empty { color: #777; }
`

const script = String.raw`
(function () {
  'use strict'
  var views = new Map()
  var chartsOk = typeof vega !== 'undefined' && typeof vegaLite !== 'undefined'

  function el(tag, attrs, children) {
    var e = document.createElement(tag)
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k]
      else if (k === 'class') e.className = attrs[k]
      else e.setAttribute(k, attrs[k])
    })
    ;(children || []).forEach(function (c) { e.appendChild(c) })
    return e
  }
  function fmtSeconds(s) {
    if (s === null || s === undefined) return '–'
    if (s < 60) return s.toFixed(1) + ' s'
    if (s < 3600) return (s / 60).toFixed(1) + ' min'
    return (s / 3600).toFixed(1) + ' h'
  }
  function fmtInt(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en') }

  function chartSpec() {
    return {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: 460, height: 110,
      data: { name: 'table' },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 't', type: 'temporal', title: null, axis: { format: '%H:%M:%S', tickCount: 4, labelOverlap: true } },
        y: { field: 'lag', type: 'quantitative', title: 'lag', scale: { domain: { unionWith: [0, 1] } }, axis: { format: '~s', tickMinStep: 1 } },
        color: { field: 'p', type: 'nominal', title: 'partition' }
      }
    }
  }
  function updateChart(key, container, history) {
    if (!chartsOk) return
    var view = views.get(key)
    try {
      if (!view) {
        var spec = vegaLite.compile(chartSpec()).spec
        view = new vega.View(vega.parse(spec), { renderer: 'svg', container: container, hover: true })
        views.set(key, view)
      }
      view.data('table', history.map(function (h) { return { p: h.p, t: h.t, lag: h.lag } })).runAsync()
    } catch (e) {
      container.textContent = 'chart unavailable: ' + e.message
    }
  }

  function partitionRows(g) {
    var head = el('tr', null, ['topic', 'partition', 'status', 'owner', 'committed', 'lag', 'lag (time)', 'window']
      .map(function (h) { return el('th', { text: h }) }))
    var rows = g.partitions.map(function (p) {
      return el('tr', { 'data-partition': p.topic + '-' + p.partition, 'data-status': p.status }, [
        el('td', { text: p.topic }),
        el('td', { text: String(p.partition) }),
        el('td', null, [el('span', { class: 'badge ' + p.status, text: p.status })]),
        el('td', { text: p.client_id || p.owner || '–', title: p.owner ? p.owner + ' ' + p.client_id : '' }),
        el('td', { text: p.end ? fmtInt(p.end.offset) : '–' }),
        el('td', { class: 'lag', text: fmtInt(p.current_lag) }),
        el('td', { class: 'lag-seconds', text: fmtSeconds(p.current_lag_seconds) }),
        el('td', { text: Math.round(p.complete * 100) + '%' })
      ])
    })
    return el('table', null, [el('thead', null, [head]), el('tbody', null, rows)])
  }

  function renderGroup(cluster, g, existing) {
    var key = cluster + '\u0000' + g.group
    var a = existing
    if (!a) {
      a = el('article', { class: 'group', 'data-cluster': cluster, 'data-group': g.group }, [
        el('header'), el('div', { class: 'chart' }), el('div', { class: 'partitions' })
      ])
    }
    a.setAttribute('data-status', g.status)
    var header = a.querySelector('header')
    header.replaceChildren(
      el('span', { class: 'badge ' + g.status, text: g.status }),
      el('h3', { text: g.group }),
      el('span', { class: 'summary', text: 'lag ' + fmtInt(g.totallag) + ' · max ' + fmtSeconds(g.maxlag_seconds) +
        ' behind · ' + g.partition_count + ' partitions · window ' + Math.round(g.complete * 100) + '% complete' })
    )
    a.querySelector('.partitions').replaceChildren(partitionRows(g))
    updateChart(key, a.querySelector('.chart'), g.history)
    return a
  }

  function renderCluster(c, section) {
    if (!section) {
      section = el('section', { class: 'cluster', 'data-cluster': c.name }, [
        el('h2'), el('div', { class: 'error' }), el('div', { class: 'groups' })
      ])
    }
    section.querySelector('h2').replaceChildren(
      document.createTextNode(c.name + ' '),
      el('small', { text: c.source + ' · ' + c.topics + ' topics · ' + c.groups.length + ' groups' })
    )
    section.querySelector('.error').textContent = c.lastError ? 'last error: ' + c.lastError : ''
    var box = section.querySelector('.groups')
    var old = new Map()
    Array.prototype.forEach.call(box.children, function (a) { old.set(a.getAttribute('data-group'), a) })
    var keep = []
    c.groups.forEach(function (g) { keep.push(renderGroup(c.name, g, old.get(g.group))); old.delete(g.group) })
    old.forEach(function (a, name) { views.delete(c.name + '\u0000' + name) })
    box.replaceChildren.apply(box, keep)
    if (c.groups.length === 0) box.replaceChildren(el('p', { class: 'empty', text: 'no consumer groups yet' }))
    return section
  }

  function render(snap) {
    var main = document.getElementById('clusters')
    var old = new Map()
    Array.prototype.forEach.call(main.children, function (s) { old.set(s.getAttribute('data-cluster'), s) })
    main.replaceChildren.apply(main, snap.clusters.map(function (c) { return renderCluster(c, old.get(c.name)) }))
    document.getElementById('updated').textContent = 'updated ' + new Date(snap.now).toLocaleTimeString()
  }

  function setConn(text) { document.getElementById('conn').textContent = text }

  if (typeof EventSource !== 'undefined') {
    var es = new EventSource('ui/events')
    es.onmessage = function (e) { setConn('live'); render(JSON.parse(e.data)) }
    es.onerror = function () { setConn('reconnecting…') }
  } else {
    var poll = function () {
      fetch('ui/snapshot').then(function (r) { return r.json() }).then(function (s) { setConn('polling'); render(s) })
        .catch(function () { setConn('unreachable') })
        .then(function () { setTimeout(poll, 2000) })
    }
    poll()
  }
})()
`

export function pageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cairn lag</title>
<style>${css}</style>
<script src="assets/vega.min.js"></script>
<script src="assets/vega-lite.min.js"></script>
</head>
<body>
<header><h1>Cairn consumer lag</h1><span class="muted" id="updated">connecting…</span><span class="muted" id="conn"></span>
<span class="muted">API: <a style="color:#b0bec5" href="v3/kafka">/v3/kafka</a> · <a style="color:#b0bec5" href="metrics">/metrics</a></span></header>
<main id="clusters"></main>
<script>${script}</script>
</body>
</html>
`
}
