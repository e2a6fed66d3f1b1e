// The admin dashboard's live updates: listen to the server-sent events of /t/{tenant}/admin/live
// (data-live on #live) and, when the tenant's sessions change, fetch this page again and swap
// the summary and the rows. Without script the page works as is (reload by hand).
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var url = live.getAttribute("data-live");
  var note = document.getElementById("live-state");
  var busy = false, again = false;
  function swap(doc, id) {
    var fresh = doc.getElementById(id), old = document.getElementById(id);
    if (fresh && old) old.replaceWith(document.importNode(fresh, true));
  }
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          swap(doc, "summary");
          swap(doc, "live-rows");
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var es = new EventSource(url, { withCredentials: true });
  es.addEventListener("ready", function () { if (note) note.hidden = false; });
  es.addEventListener("sessions", refresh);
  es.addEventListener("error", function () { if (note) note.hidden = true; });
})();
