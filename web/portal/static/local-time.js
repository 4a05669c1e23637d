// Shows each <time data-local> in the reader's own time zone; the page already says ICT.
document.querySelectorAll("time[data-local]").forEach(function (el) {
  var when = new Date(el.getAttribute("datetime"));
  if (isNaN(when)) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  el.textContent = when.toLocaleString(undefined, {
    weekday: "long", year: "numeric", month: "long", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  }) + " (your time, " + zone + ")";
});
