// The report's index: summary (counts, tables, histograms, kept-fraction curves) and the gallery
// (sort, filter and page through every fit). Data: window.EFT_REPORT from data/report.js.
"use strict";
(function () {
  const R = window.EFT_REPORT;
  const column = Object.fromEntries(R.fields.map((name, i) => [name, i]));
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  };
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v === null || v === undefined ? "–" : String(v));
  const value = (row, name) => row.values[column[name]];

  function table(header, rows) {
    return el("table", {}, el("tr", {}, ...header.map((h) => el("th", {}, h))),
      ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, fmt(c))))));
  }

  // ---- summary
  document.title = R.title;
  $("title").textContent = R.title;
  $("subtitle").textContent = `${R.rows.length} exemplars; body model ${R.body.kind} (${R.body.source})`;
  const runHeader = ["", ...R.labels.map((l, i) => (R.labels.length > 1 ? `${l}: ` : "") + R.runs[i].path)];
  const countRows = [["fitted", ...R.runs.map((r) => r.fitted)], ["skipped", ...R.runs.map((r) => r.skipped)]];
  const reasons = new Set(R.runs.flatMap((r) => Object.keys(r.skip_reasons)));
  for (const reason of reasons) countRows.push([`skipped: ${reason}`, ...R.runs.map((r) => r.skip_reasons[reason] || 0)]);
  const stops = new Set(R.runs.flatMap((r) => Object.keys(r.stop_reasons)));
  for (const stop of stops) countRows.push([`stopped: ${stop}`, ...R.runs.map((r) => r.stop_reasons[stop] || 0)]);
  $("counts").append(table(runHeader, countRows));
  for (const t of R.tables) $("tables").append(el("h3", {}, t.title), table(t.header, t.rows));

  const SVG = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  function histogram(name) {
    const xs = R.rows.map((r) => value(r, name)).filter((v) => typeof v === "number");
    if (!xs.length) return;
    let lo = Infinity, hi = -Infinity; // not Math.min(...xs): too many arguments at 100,000 fits
    for (const x of xs) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    if (hi === lo) hi = lo + 1;
    const bins = 30, counts = new Array(bins).fill(0);
    for (const x of xs) counts[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))]++;
    const top = Math.max(...counts), W = 300, H = 120;
    const chart = svg("svg", { width: W, height: H + 16, "data-field": name });
    counts.forEach((c, i) => chart.append(svg("rect", { x: (i * W) / bins, y: H - (c / top) * H, width: W / bins - 1, height: (c / top) * H, fill: "#4a7bb7" })));
    const label = (x, text, anchor) => { const t = svg("text", { x, y: H + 13, "font-size": 11, "text-anchor": anchor }); t.textContent = text; chart.append(t); };
    label(0, fmt(lo), "start");
    label(W, fmt(hi), "end");
    $("histograms").append(el("div", { class: "chart" }, el("h3", {}, `${name} (${xs.length} fits)`), chart));
  }
  R.histograms.forEach(histogram);

  if (R.curves.by) {
    const W = 320, H = 180, colors = ["#c0392b", "#2471a3", "#27ae60", "#8e44ad"];
    for (const [measure, title] of [["mean", `kept fits' mean ${R.curves.truth_field}`], ["facing_over_90", "kept fits facing > 90° off"]]) {
      const series = Object.entries(R.curves.by);
      const ys = series.flatMap(([, s]) => s[measure]);
      const lo = Math.min(...ys), hi = Math.max(...ys) + 1e-9;
      const chart = svg("svg", { width: W, height: H + 16, class: "curve" });
      series.forEach(([name, s], k) => {
        const points = s[measure].map((y, i) => `${(R.curves.kept[i] - 0.1) / 0.9 * W},${H - ((y - lo) / (hi - lo)) * (H - 10) - 5}`);
        chart.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: colors[k % 4], "stroke-width": 2 }));
      });
      const t = svg("text", { x: 0, y: H + 13, "font-size": 11 });
      t.textContent = `kept fraction 0.1 … 1 (best first); ${fmt(lo)} … ${fmt(hi)}`;
      chart.append(t);
      const legend = el("div", {}, ...series.map(([name], k) => el("span", {}, el("span", { class: "swatch", style: `background:${colors[k % 4]}` }), `ranked by ${name}`)));
      $("curves").append(el("div", { class: "chart" }, el("h3", {}, title), chart, legend));
    }
  }

  // ---- gallery
  const sortField = $("sort-field"), rangeField = $("range-field");
  for (const name of ["key", ...R.numeric]) sortField.append(el("option", { value: name }, name));
  rangeField.append(el("option", { value: "" }, "(any field)"));
  for (const name of R.numeric) rangeField.append(el("option", { value: name }, name));
  const categoryInputs = R.categories.map((name) => {
    const options = [...new Set(R.rows.map((r) => value(r, name)).filter((v) => v !== null && v !== undefined))].sort();
    const select = el("select", { "data-field": name }, el("option", { value: "" }, "any"), ...options.map((o) => el("option", { value: String(o) }, String(o))));
    $("category-filters").append(el("label", {}, `${name} `, select), " ");
    return select;
  });
  let page = 0, shown = [];
  // Each field's order is sorted once and kept: a new filter is then one pass over it.
  const orders = {};
  function orderOf(name) {
    if (!orders[name]) {
      const c = column[name], v = R.rows.map((r) => r.values[c]);
      const rows = v.map((_, i) => i);
      rows.sort((a, b) => {
        const x = v[a], y = v[b];
        if (x === y) return a - b;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return x < y ? -1 : 1;
      });
      const present = rows.findIndex((i) => v[i] === null || v[i] === undefined);
      orders[name] = { rows, present: present < 0 ? rows.length : present };
    }
    return orders[name];
  }

  function update() {
    const order = orderOf(sortField.value), desc = $("sort-order").value === "desc";
    const range = rangeField.value, lo = parseFloat($("range-min").value), hi = parseFloat($("range-max").value);
    const wanted = categoryInputs.filter((s) => s.value !== "").map((s) => [column[s.dataset.field], s.value]);
    const rangeColumn = column[range];
    const keep = (i) => {
      const v = R.rows[i].values;
      if (wanted.some(([c, want]) => String(v[c]) !== want)) return false;
      if (!range) return true;
      const x = v[rangeColumn];
      return typeof x === "number" && !(x < lo) && !(x > hi);
    };
    shown = [];
    const { rows, present } = order;
    if (desc) { // largest first; fits without the field stay last
      for (let k = present - 1; k >= 0; k--) if (keep(rows[k])) shown.push(rows[k]);
      for (let k = present; k < rows.length; k++) if (keep(rows[k])) shown.push(rows[k]);
    } else {
      for (const i of rows) if (keep(i)) shown.push(i);
    }
    page = 0;
    draw();
  }

  function draw() {
    const size = parseInt($("page-size").value, 10), pages = Math.max(1, Math.ceil(shown.length / size));
    page = Math.min(Math.max(page, 0), pages - 1);
    $("gallery-status").textContent = `${shown.length} of ${R.rows.length} fits`;
    $("page-label").textContent = `page ${page + 1} of ${pages}`;
    const sort = sortField.value;
    const cards = shown.slice(page * size, (page + 1) * size).map((i) => {
      const row = R.rows[i];
      return el("a", { class: "card", href: `fit.html#${i}`, "data-row": i },
        ...row.thumbs.map((t) => el("img", { src: `thumbs/${t}`, loading: "lazy", alt: value(row, "key") })),
        el("div", { class: "key" }, value(row, "key")),
        el("div", {}, `${sort}: ${fmt(value(row, sort))}`));
    });
    $("gallery").replaceChildren(...cards);
  }

  for (const input of [sortField, $("sort-order"), rangeField, $("range-min"), $("range-max"), ...categoryInputs]) input.addEventListener("change", update);
  $("page-size").addEventListener("change", draw);
  $("prev").addEventListener("click", () => { page--; draw(); });
  $("next").addEventListener("click", () => { page++; draw(); });
  update();
})();
