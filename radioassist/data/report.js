/* radioassist report: table paging, sorting, filtering and lazy thumbnails.  Vanilla JS, no network. */
(function () {
  "use strict";
  var META = JSON.parse(document.getElementById("ra-meta").textContent);
  var ROWS = JSON.parse(document.getElementById("ra-rows").textContent);
  var SHEETS = JSON.parse(document.getElementById("ra-sheets").textContent);
  var C = {rank: 0, name: 1, ra: 2, dec: 3, ra_hms: 4, dec_dms: 5, size: 6, label: 7, probs: 8, conf: 9,
           ent: 10, flag: 11, truth: 12, sheet: 13, slot: 14, tile: 15};
  var T = META.thumb, SIDE = META.sheet_side, HAS_TRUTH = !!META.truth;
  var state = {key: "rank", dir: 1, page: 0, size: META.page_size, label: "", flag: "", name: "", disagree: false};
  var view = [];

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c];
    });
  }
  function colour(label) {
    var first = label ? label.split(",")[0] : "";
    return META.colours[first] || META.no_label_colour;
  }
  function fmt(x, nd) { return x === null || x === undefined ? "" : x.toFixed(nd); }

  // sprite sheets: a CSS rule per sheet, added the first time a row of that sheet is shown
  var sheetStyle = document.createElement("style");
  document.head.appendChild(sheetStyle);
  var loaded = {};
  function ensureSheet(k) {
    if (k < 0 || loaded[k]) { return; }
    loaded[k] = true;
    sheetStyle.sheet.insertRule(".s" + k + "{background-image:url(\"" + SHEETS[k] + "\")}",
                                sheetStyle.sheet.cssRules.length);
  }
  function thumb(r) {
    var k = r[C.sheet];
    if (k < 0) { return "<span class=\"th none\" style=\"width:" + T + "px;height:" + T + "px\" title=\"no thumbnail\"></span>"; }
    ensureSheet(k);
    var slot = r[C.slot], x = (slot % SIDE) * T, y = Math.floor(slot / SIDE) * T;
    return "<span class=\"th s" + k + "\" style=\"width:" + T + "px;height:" + T + "px;background-position:-" +
           x + "px -" + y + "px\"></span>";
  }

  // columns: [title, sort key getter (null: not sortable), cell html]
  var columns = [
    ["#", function (r) { return r[C.rank]; }, function (r) { return "<td class=\"num\">" + r[C.rank] + "</td>"; }],
    ["thumbnail", null, function (r) { return "<td>" + thumb(r) + "</td>"; }],
    ["name", function (r) { return r[C.name]; }, function (r) { return "<td>" + esc(r[C.name]) + "</td>"; }],
    ["RA", function (r) { return r[C.ra]; }, function (r) {
      return "<td class=\"num\">" + esc(r[C.ra_hms]) + "<br><small>" + fmt(r[C.ra], 5) + "&deg;</small></td>"; }],
    ["Dec", function (r) { return r[C.dec]; }, function (r) {
      return "<td class=\"num\">" + esc(r[C.dec_dms]) + "<br><small>" + fmt(r[C.dec], 5) + "&deg;</small></td>"; }],
    ["size (\u2033)", function (r) { return r[C.size]; }, function (r) { return "<td class=\"num\">" + fmt(r[C.size], 1) + "</td>"; }],
    ["label", function (r) { return r[C.label]; }, function (r) {
      return "<td>" + (r[C.label] ? "<span class=\"lab\" style=\"--c:" + colour(r[C.label]) + "\">" + esc(r[C.label]) + "</span>" : "") + "</td>"; }]
  ];
  META.labels.forEach(function (lab, j) {
    var c = META.colours[lab] || META.no_label_colour;
    columns.push(["P(" + lab + ")", function (r) { return r[C.probs][j]; }, function (r) {
      var p = r[C.probs][j];
      return "<td class=\"num\">" + (p === null ? "" : "<span class=\"bar\" style=\"--c:" + c + ";width:" +
             Math.round(40 * p) + "px\"></span>" + p.toFixed(3)) + "</td>"; }]);
  });
  columns.push(["confidence", function (r) { return r[C.conf]; }, function (r) { return "<td class=\"num\">" + fmt(r[C.conf], 3) + "</td>"; }]);
  columns.push(["entropy", function (r) { return r[C.ent]; }, function (r) { return "<td class=\"num\">" + fmt(r[C.ent], 3) + "</td>"; }]);
  columns.push(["flag", function (r) { return r[C.flag]; }, function (r) { return "<td>" + esc(r[C.flag]) + "</td>"; }]);
  if (META.has_tile) {
    columns.push(["tile", function (r) { return r[C.tile]; }, function (r) { return "<td>" + esc(r[C.tile]) + "</td>"; }]);
  }
  if (HAS_TRUTH) {
    columns.push(["truth (" + META.truth + ")", function (r) { return r[C.truth]; }, function (r) { return "<td>" + esc(r[C.truth]) + "</td>"; }]);
  }

  function disagrees(r) { return HAS_TRUTH && r[C.flag] === "" && r[C.truth] !== "" && r[C.truth] !== r[C.label]; }

  function matches(r) {
    if (state.label) {
      if (state.label === "=none") { if (r[C.label] !== "") { return false; } }
      else if (r[C.label].split(",").indexOf(state.label) < 0) { return false; }
    }
    if (state.flag) {
      if (state.flag === "=ok") { if (r[C.flag] !== "") { return false; } }
      else if (r[C.flag] !== state.flag) { return false; }
    }
    if (state.name && r[C.name].toLowerCase().indexOf(state.name) < 0) { return false; }
    if (state.disagree && !disagrees(r)) { return false; }
    return true;
  }

  function compare(get, dir) {
    return function (a, b) {
      var x = get(ROWS[a]), y = get(ROWS[b]);
      var xm = x === null || x === "" || x === undefined, ym = y === null || y === "" || y === undefined;
      if (xm || ym) { return xm === ym ? a - b : (xm ? 1 : -1); }  // missing values always last
      if (x < y) { return -dir; }
      if (x > y) { return dir; }
      return ROWS[a][C.rank] - ROWS[b][C.rank];
    };
  }

  function refresh() {
    var t0 = performance.now();
    view = [];
    for (var i = 0; i < ROWS.length; i++) { if (matches(ROWS[i])) { view.push(i); } }
    var col = columns.filter(function (c) { return c[0] === state.key; })[0] || columns[0];
    view.sort(compare(col[1], state.dir));
    var pages = Math.max(1, Math.ceil(view.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    draw();
    document.getElementById("count").textContent = view.length + " of " + ROWS.length + " sources";
    window.raLastRefreshMs = performance.now() - t0;
    if (performance.mark && !window.raReady) { performance.mark("ra-table-rendered"); }
  }

  function draw() {
    var start = state.page * state.size, stop = Math.min(view.length, start + state.size), out = [];
    for (var k = start; k < stop; k++) {
      var r = ROWS[view[k]], cells = "";
      for (var c = 0; c < columns.length; c++) { cells += columns[c][2](r); }
      out.push("<tr data-row=\"" + view[k] + "\"" + (disagrees(r) ? " class=\"disagree\"" : "") + ">" + cells + "</tr>");
    }
    document.getElementById("src-body").innerHTML = out.join("");
    var pages = Math.max(1, Math.ceil(view.length / state.size));
    document.getElementById("page").textContent = "page " + (state.page + 1) + " of " + pages;
    var heads = document.querySelectorAll("#src-head th");
    for (var h = 0; h < heads.length; h++) {
      heads[h].classList.remove("asc", "desc");
      if (columns[h][0] === state.key) { heads[h].classList.add(state.dir > 0 ? "asc" : "desc"); }
    }
  }

  function option(value, text) {
    var o = document.createElement("option");
    o.value = value; o.textContent = text;
    return o;
  }

  function setup() {
    var head = document.getElementById("src-head");
    columns.forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c[0];
      if (c[1] === null) { th.className = "nosort"; }
      else {
        th.addEventListener("click", function () {
          if (state.key === c[0]) { state.dir = -state.dir; } else { state.key = c[0]; state.dir = 1; }
          state.page = 0;
          refresh();
        });
      }
      head.appendChild(th);
    });
    var labels = {}, flags = {}, nNone = 0, nOk = 0;
    ROWS.forEach(function (r) {
      if (r[C.label]) { r[C.label].split(",").forEach(function (l) { labels[l] = (labels[l] || 0) + 1; }); } else { nNone++; }
      if (r[C.flag]) { flags[r[C.flag]] = (flags[r[C.flag]] || 0) + 1; } else { nOk++; }
    });
    var fl = document.getElementById("f-label");
    fl.appendChild(option("", "all"));
    Object.keys(labels).sort().forEach(function (l) { fl.appendChild(option(l, l + " (" + labels[l] + ")")); });
    if (nNone) { fl.appendChild(option("=none", "no label (" + nNone + ")")); }
    var ff = document.getElementById("f-flag");
    ff.appendChild(option("", "all"));
    ff.appendChild(option("=ok", "ok: classified (" + nOk + ")"));
    Object.keys(flags).sort().forEach(function (f) { ff.appendChild(option(f, f + " (" + flags[f] + ")")); });
    if (nOk) { state.flag = "=ok"; ff.value = "=ok"; }  /* opens on the classified rows; "all" is one choice away */
    fl.addEventListener("change", function () { state.label = fl.value; state.page = 0; refresh(); });
    ff.addEventListener("change", function () { state.flag = ff.value; state.page = 0; refresh(); });
    var fn = document.getElementById("f-name"), timer = null;
    fn.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.name = fn.value.trim().toLowerCase(); state.page = 0; refresh(); }, 150);
    });
    if (HAS_TRUTH) {
      document.getElementById("f-disagree-box").hidden = false;
      document.getElementById("order-note").textContent = "disagreements with the truth first, then the least confident";
      document.getElementById("f-disagree").addEventListener("change", function (e) {
        state.disagree = e.target.checked; state.page = 0; refresh(); });
    }
    var ps = document.getElementById("page-size");
    ps.value = String(state.size);
    ps.addEventListener("change", function () { state.size = parseInt(ps.value, 10); state.page = 0; refresh(); });
    function go(p) { return function () {
      var pages = Math.max(1, Math.ceil(view.length / state.size));
      state.page = Math.max(0, Math.min(pages - 1, p())); draw(); }; }
    document.getElementById("first").addEventListener("click", go(function () { return 0; }));
    document.getElementById("prev").addEventListener("click", go(function () { return state.page - 1; }));
    document.getElementById("next").addEventListener("click", go(function () { return state.page + 1; }));
    document.getElementById("last").addEventListener("click", go(function () { return 1e9; }));
  }

  function gallery() {
    var body = document.getElementById("gallery-body"), labs = Object.keys(META.gallery), html = [];
    if (!labs.length) { body.textContent = "No thumbnails (no mosaic given, or no source classified)."; return; }
    labs.forEach(function (lab) {
      var g = META.gallery[lab], c = colour(lab);
      function cells(list) {
        return list.map(function (i) {
          var r = ROWS[i], j = META.labels.indexOf(lab);
          var p = (j >= 0 && !META.multilabel) ? r[C.probs][j] : r[C.conf];
          return "<figure style=\"--c:" + c + "\" title=\"" + esc(r[C.name]) + "\">" + thumb(r) +
                 "<figcaption>" + fmt(p, 2) + "</figcaption></figure>";
        }).join("");
      }
      html.push("<div class=\"strip\"><div><h3><span class=\"lab\" style=\"--c:" + c + "\">" + esc(lab) +
                "</span> most confident</h3><div class=\"cells\">" + cells(g.most) + "</div></div>" +
                "<div><h3>least confident</h3><div class=\"cells\">" + cells(g.least) + "</div></div></div>");
    });
    body.innerHTML = html.join("");
  }

  setup();
  refresh();
  gallery();
  window.raReady = true;
  window.raRowCount = ROWS.length;
  document.body.setAttribute("data-ready", "1");
})();
