// Front-Channel Logout 1.0 §3: wait until every RP iframe has loaded (or a short timeout), then
// continue to the post-logout redirect URI.
(function () {
  var frames = Array.prototype.slice.call(document.querySelectorAll("iframe.fc"));
  var link = document.getElementById("continue");
  var done = false;
  function go() { if (!done && link) { done = true; window.location.assign(link.href); } }
  var pending = frames.length;
  if (pending === 0) { go(); return; }
  frames.forEach(function (f) { f.addEventListener("load", function () { pending -= 1; if (pending <= 0) go(); }); });
  setTimeout(go, 2500);
})();
