// OpenIIoT console behaviour: live values and charts over server-sent events, alarm list refresh.
(function () {
  "use strict";

  function texts() {
    var el = document.getElementById("i18n");
    return el ? JSON.parse(el.textContent) : {};
  }

  function formatNumber(value, precision) {
    var lang = document.body.dataset.lang || "en";
    var opts = {};
    if (precision !== "" && precision !== undefined) {
      opts.minimumFractionDigits = Number(precision);
      opts.maximumFractionDigits = Number(precision);
    } else {
      opts.maximumFractionDigits = 3;
    }
    return new Intl.NumberFormat(lang, opts).format(value);
  }

  function formatAge(tsMs) {
    var lang = document.body.dataset.lang || "en";
    var seconds = Math.round((tsMs - Date.now()) / 1000);
    var rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    if (Math.abs(seconds) < 60) return rtf.format(Math.min(0, seconds), "second");
    var minutes = Math.round(seconds / 60);
    if (Math.abs(minutes) < 60) return rtf.format(minutes, "minute");
    return rtf.format(Math.round(minutes / 60), "hour");
  }

  function devicePage() {
    var box = document.getElementById("latest");
    if (!box) return;
    var t = texts();
    var charts = {};
    var liveRange = true;
    var range = "1h";

    document.querySelectorAll(".chart").forEach(function (el) {
      if (!window.echarts) return;
      var chart = echarts.init(el, null, { locale: document.body.dataset.lang === "zh-CN" ? "ZH" : "EN" });
      chart.setOption({
        animation: false,
        grid: { left: 56, right: 16, top: 16, bottom: 48 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "time", axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", scale: true, name: el.dataset.unit || "" },
        dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 6 }],
        series: [{ type: "line", showSymbol: false, sampling: "lttb", data: [] }],
      });
      charts[el.dataset.key] = { chart: chart, data: [] };
    });
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (k) { charts[k].chart.resize(); });
    });

    function load(params) {
      Object.keys(charts).forEach(function (key) {
        var url = box.dataset.history + "?key=" + encodeURIComponent(key) + "&" + params;
        fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (body) {
          var entry = charts[key];
          entry.data = body.points || [];
          entry.chart.setOption({ series: [{ data: entry.data }] });
        });
      });
    }
    load("range=" + range);

    document.querySelectorAll("#ranges button[data-range]").forEach(function (b) {
      b.addEventListener("click", function () {
        document.querySelectorAll("#ranges button").forEach(function (o) { o.classList.remove("on"); });
        b.classList.add("on");
        range = b.dataset.range;
        liveRange = true;
        load("range=" + range);
      });
    });
    var apply = document.getElementById("range-apply");
    if (apply) apply.addEventListener("click", function () {
      var from = document.getElementById("range-from").value;
      var to = document.getElementById("range-to").value;
      if (!from || !to) return;
      liveRange = false;
      load("start=" + new Date(from).getTime() + "&end=" + new Date(to).getTime());
    });

    var dot = document.getElementById("live-state");
    var source = new EventSource(box.dataset.live);
    source.onopen = function () { if (dot) { dot.classList.add("on"); dot.title = t.live || "Live"; } };
    source.onerror = function () { if (dot) { dot.classList.remove("on"); dot.title = t.offline || ""; } };
    source.addEventListener("values", function (event) {
      var values = JSON.parse(event.data);
      Object.keys(values).forEach(function (key) {
        var v = values[key];
        var row = box.querySelector('tr[data-key="' + CSS.escape(key) + '"]');
        if (row) {
          var cell = row.querySelector(".value");
          var text = v.value === null || v.value === undefined ? (v.text || "") :
            formatNumber(v.value, row.dataset.precision) + (row.dataset.unit ? " " + row.dataset.unit : "");
          if (cell.textContent !== text) {
            cell.textContent = text;
            cell.dataset.ts = v.ts;
            cell.classList.remove("flash"); void cell.offsetWidth; cell.classList.add("flash");
          }
          row.querySelector(".fresh").textContent = formatAge(v.ts);
        }
        var entry = charts[key];
        if (entry && liveRange && v.value !== null && v.value !== undefined) {
          entry.data.push([v.ts, v.value]);
          if (entry.data.length > 4000) entry.data.splice(0, entry.data.length - 4000);
          entry.chart.setOption({ series: [{ data: entry.data }] });
        }
      });
    });
    setInterval(function () {
      box.querySelectorAll("td.value").forEach(function (cell) {
        if (cell.dataset.ts) cell.parentElement.querySelector(".fresh").textContent = formatAge(Number(cell.dataset.ts));
      });
    }, 5000);
  }

  function alarmPage() {
    var table = document.getElementById("alarm-table");
    if (!table || !table.dataset.stream || !window.EventSource) return;
    var source = new EventSource(table.dataset.stream);
    source.addEventListener("changed", function () {
      if (window.htmx) htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#alarm-table" });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { devicePage(); alarmPage(); });
})();
