//! The console's embedded assets: one stylesheet and the throughput chart's
//! script (no build step, nothing fetched from elsewhere).

/// The stylesheet every page inlines.
pub const CSS: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #cfe0ff; text-decoration: none; }
header .brand { font-weight: 700; font-size: 18px; color: #fff; }
main { padding: 16px 24px; }
h1 { font-size: 20px; margin: 8px 0 16px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
table { border-collapse: collapse; background: #fff; min-width: 40%; }
th, td { border: 1px solid #d9dde3; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.bytes { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; max-width: 520px; }
.muted { color: #6b7483; }
.fenced { color: #b3261e; font-weight: 600; }
form.inline { display: flex; gap: 8px; align-items: center; margin: 8px 0 16px; }
svg.chart { background: #fff; border: 1px solid #d9dde3; }
.legend span { margin-right: 16px; }
.in { color: #1a73e8; } .out { color: #e8710a; }
"#;

/// Polls `/console/throughput.json` every second and draws bytes in and out
/// per second over the last minute into `svg#chart`.
pub const CHART_JS: &str = r#"
(function () {
  var svg = document.getElementById('chart');
  if (!svg) return;
  var W = 600, H = 160, N = 60, samples = [], last = null;
  function line(cls, values, max) {
    var pts = values.map(function (v, i) {
      return (i * W / (N - 1)).toFixed(1) + ',' + (H - 4 - v * (H - 8) / max).toFixed(1);
    });
    var el = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    el.setAttribute('points', pts.join(' '));
    el.setAttribute('fill', 'none');
    el.setAttribute('stroke', cls === 'in' ? '#1a73e8' : '#e8710a');
    el.setAttribute('stroke-width', '2');
    return el;
  }
  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var ins = samples.map(function (s) { return s[0]; });
    var outs = samples.map(function (s) { return s[1]; });
    var max = Math.max(1, Math.max.apply(null, ins.concat(outs)));
    svg.appendChild(line('in', ins, max));
    svg.appendChild(line('out', outs, max));
    var now = samples.length ? samples[samples.length - 1] : [0, 0];
    document.getElementById('rate-in').textContent = Math.round(now[0]) + ' B/s in';
    document.getElementById('rate-out').textContent = Math.round(now[1]) + ' B/s out';
    document.getElementById('rate-max').textContent = 'scale: ' + Math.round(max) + ' B/s';
  }
  function poll() {
    fetch('/console/throughput.json').then(function (r) { return r.json(); }).then(function (t) {
      if (last) {
        var secs = Math.max(0.001, (t.at_ms - last.at_ms) / 1000);
        samples.push([(t.bytes_in - last.bytes_in) / secs, (t.bytes_out - last.bytes_out) / secs]);
        if (samples.length > N) samples.shift();
        draw();
      }
      last = t;
    }).catch(function () {});
  }
  poll();
  setInterval(poll, 1000);
})();
"#;
