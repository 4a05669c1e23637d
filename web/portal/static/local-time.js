// After each <time data-local>, the same moment in the reader's own time zone, when their browser
// is in another zone than the one the page says it in (ICT, or the zone its data-offset gives in
// minutes east of UTC, e.g. a member's own consult hours' zone), labelled with the page's
// words for it (data-local). Written as the page writes the ICT time, in the page's language
// (<html lang>): with the month and weekday names the page gives (<body data-months,
// data-weekdays>), since a browser may have no Khmer of its own; failing those, with the
// browser's Intl in that language.
(function () {
  var lang = document.documentElement.lang || undefined;
  var months = (document.body.getAttribute("data-months") || "").split("|");
  var weekdays = (document.body.getAttribute("data-weekdays") || "").split("|");
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function zoneName(when) {
    var parts = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(when);
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].type === "timeZoneName") { return parts[i].value; }
    }
    return zone;
  }

  function written(when) {
    if (months.length === 12 && weekdays.length === 7) {
      return weekdays[when.getDay()] + " " + when.getDate() + " " + months[when.getMonth()] + " " +
        when.getFullYear() + ", " + two(when.getHours()) + ":" + two(when.getMinutes()) + " " + zoneName(when);
    }
    return new Intl.DateTimeFormat(lang, {
      weekday: "long", year: "numeric", month: "long", day: "numeric",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
    }).format(when);
  }

  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when)) { return; }
    // ICT is UTC+7 all year: a browser seven hours ahead of UTC at that moment reads the same clock.
    var shown = el.hasAttribute("data-offset") ? parseInt(el.getAttribute("data-offset"), 10) : 420;
    if (when.getTimezoneOffset() === -shown) { return; }
    var local = document.createElement("span");
    local.className = "local-time";
    local.textContent = " (" + el.getAttribute("data-local") + ": " + written(when) + ", " + zone + ")";
    el.insertAdjacentElement("afterend", local);
  });
})();
