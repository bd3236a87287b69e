// The overview's charts: an hour of samples from the page, then one more per `sample`
// event of the page's live stream (the stream htmx's SSE extension opened; the numbers
// themselves arrive as `figures` HTML that htmx swaps in).
(function () {
  "use strict";
  var history = JSON.parse(document.getElementById("history").textContent);
  var labels = JSON.parse(document.getElementById("labels").textContent);
  var RATES = ["accepted", "rejected", "delivered", "retrying", "dead"];
  var COLOURS = ["#1b7f3b", "#b3261e", "#1f5fbf", "#a15c00", "#5b2a86", "#00838f"];
  var KEEP = Math.max(history.length, 720);
  var lastSeq = 0;
  var rates = [[]].concat(RATES.map(function () { return []; }));
  var lags = [[]].concat(labels.groups.map(function () { return []; }));

  function add(sample) {
    if (sample.seq <= lastSeq) return false; // already shown (a reconnect resends)
    lastSeq = sample.seq;
    rates[0].push(sample.at);
    RATES.forEach(function (name, i) { rates[i + 1].push(sample.rates[name]); });
    lags[0].push(sample.at);
    labels.groups.forEach(function (group, i) { lags[i + 1].push(sample.lags[group] || 0); });
    [rates, lags].forEach(function (series) {
      if (series[0].length > KEEP) series.forEach(function (column) { column.shift(); });
    });
    return true;
  }
  history.forEach(add);

  function chart(element, names, data) {
    var width = function () { return Math.max(element.clientWidth, 300); };
    var series = [{}].concat(names.map(function (name, i) {
      return { label: name, stroke: COLOURS[i % COLOURS.length], width: 2 };
    }));
    var plot = new uPlot({ width: width(), height: 220, series: series,
      scales: { y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } } },
      data, element);
    window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 220 }); });
    return plot;
  }
  var ratesChart = chart(document.getElementById("rates-chart"),
    RATES.map(function (name) { return labels[name]; }), rates);
  var lagChart = chart(document.getElementById("lag-chart"), labels.groups, lags);

  var hooked = new WeakSet();
  document.body.addEventListener("htmx:sseOpen", function (event) {
    var source = event.detail.source;
    if (hooked.has(source)) return;
    hooked.add(source);
    source.addEventListener("sample", function (message) {
      if (add(JSON.parse(message.data))) {
        ratesChart.setData(rates);
        lagChart.setData(lags);
        document.getElementById("live").dataset.samples = String(rates[0].length);
      }
    });
  });
})();
