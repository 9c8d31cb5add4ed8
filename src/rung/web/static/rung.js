// rung ui: the little script every page loads (no framework, no build step).
// The runs table's chosen columns are remembered in this browser (localStorage) and put
// back in the URL when the table is opened without any.
(function () {
  "use strict";
  var KEY = "rung.runs.columns";
  function go(columns) {
    var url = new URL(window.location.href);
    if (columns) { url.searchParams.set("columns", columns); } else { url.searchParams.delete("columns"); }
    url.searchParams.delete("offset");
    window.location.assign(url.toString());
  }
  if (window.location.pathname === "/runs") {
    var params = new URLSearchParams(window.location.search);
    var saved = null;
    try { saved = window.localStorage.getItem(KEY); } catch (e) { saved = null; }
    if (!params.get("columns") && saved) {
      var url = new URL(window.location.href);
      url.searchParams.set("columns", saved);
      window.location.replace(url.toString());
      return;
    }
    var apply = document.getElementById("columns-apply");
    var reset = document.getElementById("columns-reset");
    var input = document.getElementById("columns-input");
    if (apply && input) {
      apply.addEventListener("click", function () {
        var value = input.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean).join(",");
        try { window.localStorage.setItem(KEY, value); } catch (e) { /* private mode: URL only */ }
        go(value);
      });
    }
    if (reset) {
      reset.addEventListener("click", function () {
        try { window.localStorage.removeItem(KEY); } catch (e) { /* nothing saved */ }
        go("");
      });
    }
  }
})();
