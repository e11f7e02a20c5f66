// One fit's page (fit.html#<row>): its pictures, every number, its parameters and a 3D view of
// the body posed from them. With two runs (eft-jax compare) both fits side by side.
"use strict";
(function () {
  const R = window.EFT_REPORT;
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  };
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : v === null || v === undefined ? "–" : String(v));
  const COLORS = [[0.55, 0.7, 0.95], [0.95, 0.6, 0.35]];
  const index = parseInt(location.hash.slice(1) || "0", 10);
  const row = R.rows[index];
  window.addEventListener("hashchange", () => location.reload());
  $("prev-fit").addEventListener("click", () => { location.hash = String(Math.max(0, index - 1)); });
  $("next-fit").addEventListener("click", () => { location.hash = String(Math.min(R.rows.length - 1, index + 1)); });
  if (!row) { $("fit-title").textContent = `no fit #${index}`; return; }
  const values = Object.fromEntries(R.fields.map((name, i) => [name, row.values[i]]));
  $("fit-title").textContent = `fit ${index + 1} of ${R.rows.length}: ${values.key}`;
  document.title = `eft-jax fit ${values.key}`;

  row.thumbs.forEach((t, r) => {
    const label = R.labels.length > 1 ? `${R.labels[r]}: ` : "";
    $("pictures").append(el("figure", {}, el("img", { src: `thumbs/${t}`, alt: `${label}crop, overlay, side view`, class: "panels" }), el("figcaption", {}, `${label}crop | fit over the crop | side view`)));
  });
  if (row.strip) $("pictures").append(el("figure", {}, el("img", { src: row.strip, class: "strip", alt: "Figure-1 strip" }), el("figcaption", {}, "the fit after a few EFT updates (Figure 1)")));

  // Numbers: one column per run when there are two (fields A.x / B.x), the others after.
  const numbers = el("table", { id: "numbers-table" });
  if (R.labels.length > 1) {
    numbers.append(el("tr", {}, el("th", {}, "field"), ...R.labels.map((l) => el("th", {}, l))));
    const shared = [...new Set(R.fields.filter((f) => f.includes(".") && R.labels.includes(f.split(".")[0])).map((f) => f.slice(2)))];
    for (const name of shared) numbers.append(el("tr", { "data-field": name }, el("td", {}, name), ...R.labels.map((l) => el("td", {}, fmt(values[`${l}.${name}`])))));
    for (const name of R.fields.filter((f) => !(f.includes(".") && R.labels.includes(f.split(".")[0])))) numbers.append(el("tr", { "data-field": name }, el("td", {}, name), el("td", { colspan: R.labels.length }, fmt(values[name]))));
  } else {
    numbers.append(el("tr", {}, el("th", {}, "field"), el("th", {}, "value")));
    for (const name of R.fields) numbers.append(el("tr", { "data-field": name }, el("td", {}, name), el("td", {}, fmt(values[name]))));
  }
  $("numbers").append(numbers);

  window.EFT_FIT_CHUNK = function (chunk, entries) {
    const fits = entries[index - chunk * R.chunk];
    window.EFT_SHOWN_FITS = fits; // this page's fit entries, one per run (for the console)
    fits.forEach((fit, r) => {
      const label = R.labels.length > 1 ? `${R.labels[r]}: ` : "";
      const shown = {};
      for (const key of ["parm_cam", "parm_shape", "bbox_center", "bbox_scale", "parm_pose", "gt_keypoint_2d", "pred_keypoint_2d"]) if (key in fit) shown[key] = fit[key];
      $("parameters").append(el("h3", {}, `${label}parameters`), el("pre", {}, JSON.stringify(shown, null, 1)));
    });
    try {
      const body = eftBodyModel(window.EFT_BODY);
      const viewer = new EftViewer($("body-canvas"));
      fits.forEach((fit, r) => viewer.addMesh(eftPose(body, fit.parm_pose, fit.parm_shape), body.faces, COLORS[r]));
      viewer.draw();
      if (R.labels.length > 1) R.labels.forEach((l, r) => $("view-legend").append(el("span", { class: "swatch", style: `background: rgb(${COLORS[r].map((c) => c * 255).join(",")})` }), l));
    } catch (error) {
      $("view-legend").textContent = `3D view unavailable: ${error.message}`;
    }
  };
  const chunk = Math.floor(index / R.chunk);
  document.body.append(el("script", { src: `data/fits/${chunk}.js` }));
})();
