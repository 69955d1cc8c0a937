// encap's page: a field and its bytes light up together, either way round; a frame of the ladder
// opens its details. No network, no library: the page works opened from disk.
(function () {
  "use strict";
  function within(scope, from, to) {
    return Array.prototype.filter.call(scope.querySelectorAll(".hex .b"), function (b) {
      var i = Number(b.dataset.i);
      return i >= from && i < to;
    });
  }
  function select(scope, rows, ranges, what) {
    scope.querySelectorAll(".hl").forEach(function (e) { e.classList.remove("hl"); });
    rows.forEach(function (r) { r.classList.add("hl"); });
    ranges.forEach(function (r) {
      within(scope, r[0], r[1]).forEach(function (b) { b.classList.add("hl"); });
    });
    var sel = scope.querySelector(".sel");
    if (sel) { sel.textContent = what; }
  }
  function bytesText(from, to) {
    if (to <= from) { return "no bytes in the frame"; }
    return to - from === 1 ? "byte " + from : "bytes " + from + "-" + (to - 1);
  }
  function fromRow(row) {
    var scope = row.closest(".scope");
    var from = Number(row.dataset.from), to = Number(row.dataset.to);
    select(scope, [row], [[from, to]], "selected: " + row.dataset.name + ", " + bytesText(from, to));
  }
  function fromByte(b) {
    var scope = b.closest(".scope");
    var i = Number(b.dataset.i);
    var rows = Array.prototype.filter.call(scope.querySelectorAll("tr.f"), function (r) {
      return i >= Number(r.dataset.from) && i < Number(r.dataset.to);
    });
    var ranges = rows.map(function (r) { return [Number(r.dataset.from), Number(r.dataset.to)]; });
    if (ranges.length === 0) { ranges = [[i, i + 1]]; }
    var names = rows.map(function (r) { return r.dataset.name; }).join(", ");
    select(scope, rows, ranges, "byte " + i + ": " + (names || "no field"));
  }
  function pick(e) {
    var t = e.target;
    if (!(t instanceof Element)) { return; }
    var row = t.closest("tr.f");
    if (row && row.closest(".scope")) { fromRow(row); return; }
    var b = t.closest(".hex .b");
    if (b && b.closest(".scope")) { fromByte(b); }
  }
  function openFrame(hash) {
    if (!hash || hash.indexOf("#frame-") !== 0) { return; }
    var d = document.getElementById(hash.slice(1));
    if (d && d.tagName === "DETAILS") {
      d.open = true;
      d.scrollIntoView({ block: "start" });
    }
  }
  document.addEventListener("mouseover", pick);
  document.addEventListener("click", function (e) {
    pick(e);
    var a = e.target instanceof Element ? e.target.closest(".ladder-frame") : null;
    if (a) {
      e.preventDefault();
      openFrame("#frame-" + a.dataset.frame);
    }
  });
  document.addEventListener("focusin", pick);
  window.addEventListener("hashchange", function () { openFrame(location.hash); });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
  openFrame(location.hash);
})();
