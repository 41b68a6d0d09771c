// imbridge operator console: the pages work without this file; it only shows times in the
// reader's own time zone.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at)) {
      el.title = el.textContent;
      el.textContent = at.toLocaleString();
    }
  });
});
