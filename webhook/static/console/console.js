// recbridge console: local times with the UTC instant on hover, and a refresh of the
// page's live part every CONSOLE_REFRESH_S seconds that keeps the reader's place (scroll, focus, open details).
"use strict";
(function () {
  var pad = function (n) { return String(n).padStart(2, "0"); };

  function localText(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      " " + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }

  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) { return; }
      el.textContent = el.hasAttribute("data-time-only")
        ? localText(date).slice(11) + "." + String(date.getMilliseconds()).padStart(3, "0")
        : localText(date);
    });
    root.querySelectorAll("text[data-clock]").forEach(function (el) {
      var date = new Date(Number(el.getAttribute("data-clock")));
      el.textContent = localText(date).slice(11);
    });
  }

  function refresh(live, status) {
    var box = document.getElementById("auto-refresh");
    if (document.hidden || (box && !box.checked)) { return; }
    if (live.contains(document.activeElement) && document.activeElement !== document.body) { return; }
    fetch(window.location.href, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin" })
      .then(function (answer) {
        if (answer.status === 401) { status.textContent = "Logged out: reload to log in."; return null; }
        return answer.ok || answer.status === 404 ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var open = Array.prototype.map.call(live.querySelectorAll("details[open][id]"), function (d) { return d.id; });
        var x = window.scrollX, y = window.scrollY;
        live.innerHTML = html;
        open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
        localise(live);
        window.scrollTo(x, y);
        status.textContent = "updated " + localText(new Date()).slice(11);
      })
      .catch(function () { status.textContent = "refresh failed; retrying"; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    var live = document.querySelector("[data-live]");
    var status = document.getElementById("refresh-state");
    var box = document.getElementById("auto-refresh");
    var every = box ? Number(box.getAttribute("data-every-s")) || 5 : 5;
    if (live && status) { setInterval(function () { refresh(live, status); }, every * 1000); }
  });
})();
