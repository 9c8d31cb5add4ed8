// rung ui: the little script every page loads (no framework, no build step). Every page
// works without it; it only remembers the runs table's chosen columns in this browser
// (localStorage), putting them back in the URL when the table is opened without any, and
// keeps the filter box showing the filter of the table shown after Back/Forward.
(function () {
  "use strict";
  var KEY = "rung.runs.columns";
  function saved() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function save(value) {
    try {
      if (value) { window.localStorage.setItem(KEY, value); } else { window.localStorage.removeItem(KEY); }
    } catch (e) { /* private mode: the URL alone keeps the choice */ }
  }
  // "previous page" on an error page (a link home without the script)
  Array.prototype.forEach.call(document.querySelectorAll("a[data-back]"), function (a) {
    if (window.history.length > 1) {
      a.addEventListener("click", function (e) { e.preventDefault(); window.history.back(); });
    }
  });
  if (window.location.pathname !== "/runs") { return; }
  var state = document.getElementById("runs-state");
  var refused = state && state.getAttribute("data-columns-refused") === "1";
  if (refused) {
    save("");  // a remembered choice the server refused is never replayed
  }
  var params = new URLSearchParams(window.location.search);
  var remembered = saved();
  if (!refused && !params.has("columns") && remembered) {
    params.set("columns", remembered);
    window.location.replace(window.location.pathname + "?" + params.toString());
    return;
  }
  var form = document.getElementById("columns-form");
  var input = document.getElementById("columns-input");
  if (form && input) {
    form.addEventListener("submit", function () {
      save(input.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean).join(","));
    });
  }
  var reset = document.getElementById("columns-reset");
  if (reset) {
    reset.addEventListener("click", function () { save(""); });
  }
  // Back/Forward may restore what was typed in the box before leaving; show the filter of
  // the table on screen instead (its server-rendered value)
  window.addEventListener("pageshow", function () {
    var box = document.getElementById("filter");
    if (box) { box.value = box.defaultValue; }
    if (input) { input.value = input.defaultValue; }
  });
})();
