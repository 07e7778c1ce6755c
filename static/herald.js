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
