// rung ui: the action forms (promote, roll back, approve) of the model page, shown to admin
// tokens only. Each form posts JSON to its /api/ route with the sign-in cookie (same origin);
// the answer — the event, or the gate's refusal in the canonical error body — is shown in
// #action-result, and the page reloads after a move to show the registry as it is now.
(function () {
  "use strict";
  var result = document.getElementById("action-result");
  function show(text, ok) {
    if (!result) { return; }
    result.hidden = false;
    result.className = ok ? "done" : "error";
    result.setAttribute("role", ok ? "status" : "alert");
    result.textContent = text;
  }
  function body(form) {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) { return; }
      if (el.type === "checkbox") { data[el.name] = el.checked; }
      else if (el.name === "version") { data.version = parseInt(el.value, 10); }
      else { data[el.name] = el.value; }
    });
    return data;
  }
  function submit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    fetch(form.getAttribute("data-action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body(form))
    }).then(function (response) {
      return response.json().then(function (answer) { return [response.ok, answer]; });
    }).then(function (pair) {
      var ok = pair[0], answer = pair[1];
      if (ok) {
        var e = answer.event || {};
        var j = answer.job;
        show(j ? "approved: version " + j.challenger + " is now " + j.alias
               : e.name + "@" + e.alias + " → version " + e.to_version + " [" + e.action + "]", true);
        window.setTimeout(function () { window.location.reload(); }, 800);
      } else {
        var err = answer.error || {};
        show((err.message || "refused") + (err.hint ? " — " + err.hint : ""), false);
        if (button) { button.disabled = false; }
      }
    }).catch(function (exc) {
      show("the request failed: " + exc, false);
      if (button) { button.disabled = false; }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("form.act"), function (form) {
    form.addEventListener("submit", submit);
  });
})();
