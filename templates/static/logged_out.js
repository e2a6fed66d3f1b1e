// Front-Channel Logout 1.0 §3: wait until every RP iframe has loaded, then continue to the
// post-logout redirect URI. A frame that has not loaded in time may not have signed its RP out:
// the page then says so (#fc-warning) and stays, so the user reads it; the Continue link still
// works. Loaded here, before the frames exist (no `defer`): a capturing listener on the document
// sees every frame's `load`, even one that finishes before the page has been parsed.
(function () {
  var loaded = [];
  var frames = null;
  var link = null;
  var done = false;
  var timer = null;
  function allLoaded() {
    return frames !== null && frames.every(function (f) { return loaded.indexOf(f) >= 0; });
  }
  function go() {
    if (!done && link) { done = true; window.location.assign(link.href); }
  }
  var warned = false;
  function check() {
    // Once the warning is up the page stays, even if a late frame loads after all.
    if (!warned && allLoaded()) { if (timer !== null) { clearTimeout(timer); } go(); }
  }
  function giveUp() {
    if (allLoaded()) { go(); return; }
    warned = true;
    var warning = document.getElementById("fc-warning");
    if (warning) { warning.hidden = false; }
  }
  document.addEventListener("load", function (e) {
    var t = e.target;
    if (t && t.tagName === "IFRAME" && t.classList.contains("fc") && loaded.indexOf(t) < 0) {
      loaded.push(t);
      check();
    }
  }, true);
  document.addEventListener("DOMContentLoaded", function () {
    frames = Array.prototype.slice.call(document.querySelectorAll("iframe.fc"));
    link = document.getElementById("continue");
    if (frames.length === 0) { go(); return; }
    timer = setTimeout(giveUp, 2500);
    check();
  });
})();
