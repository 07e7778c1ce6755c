// Progressive enhancements; every page is complete without this file.
(function () {
  "use strict";

  // Show each time also in the reader's own zone when it differs from the page's.
  var readerZone;
  try { readerZone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { readerZone = null; }
  var pageZone = document.documentElement.getAttribute("data-zone");
  var format = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!readerZone || isNaN(when.getTime())) { return; }
    var local = when.toLocaleString(undefined, format);
    var inPageZone;
    try {
      inPageZone = when.toLocaleString(undefined, Object.assign({ timeZone: pageZone || "UTC" }, format));
    } catch (e) { inPageZone = null; }
    // Same wall-clock time and zone name: the reader already sees their own time.
    if (local === inPageZone) { return; }
    var span = document.createElement("span");
    span.className = "local-time";
    span.textContent = " (" + local + " your time)";
    el.after(span);
  });

  // Uptime bars: one tab stop per bar, arrow keys move between days.
  document.querySelectorAll(".bars").forEach(function (bar) {
    var days = Array.prototype.slice.call(bar.children);
    if (days.length === 0) { return; }
    days.forEach(function (day, i) { day.tabIndex = i === days.length - 1 ? 0 : -1; });
    bar.addEventListener("keydown", function (event) {
      var index = days.indexOf(document.activeElement);
      if (index === -1) { return; }
      var next = index;
      if (event.key === "ArrowLeft") { next = Math.max(0, index - 1); }
      else if (event.key === "ArrowRight") { next = Math.min(days.length - 1, index + 1); }
      else if (event.key === "Home") { next = 0; }
      else if (event.key === "End") { next = days.length - 1; }
      else { return; }
      event.preventDefault();
      days[index].tabIndex = -1;
      days[next].tabIndex = 0;
      days[next].focus();
    });
  });
})();

// Console: incidents and postmortems.
(function () {
  "use strict";

  // Live preview beside a markdown textarea (`data-preview` names the element that
  // shows it). The server renders it with the public page's renderer and sanitises
  // it, so the answer is safe to insert. Without JavaScript, the "Preview" button
  // re-renders the page with the same preview.
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    var target = document.getElementById(area.getAttribute("data-preview"));
    var token = area.form && area.form.querySelector("input[name='csrf']");
    if (!target || !token || !window.fetch || !window.URLSearchParams) { return; }
    var timer = null;
    var latest = 0;
    function refresh() {
      var ticket = ++latest;
      var body = new URLSearchParams();
      body.set("csrf", token.value);
      body.set("kind", area.getAttribute("data-kind") || "document");
      body.set("markdown", area.value);
      // A redirect means the session ended (to the sign-in page): not a preview.
      fetch("/admin/preview", { method: "POST", body: body, credentials: "same-origin", redirect: "manual" })
        .then(function (response) {
          if (response.ok) { return response.text(); }
          if (ticket === latest) {
            target.textContent = response.type === "opaqueredirect"
              ? "No preview: you are signed out. Sign in again in another tab; what you typed stays here."
              : "No preview right now; the Preview button still works.";
          }
          return null;
        })
        .then(function (html) {
          // An older answer arriving late must not replace a newer one.
          if (html !== null && ticket === latest) { target.innerHTML = html; }
        })
        .catch(function () { /* the Preview button still works */ });
    }
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
  });

  // Buttons that replace typed text or cannot be undone ask first.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
