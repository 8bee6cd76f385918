// Progressive enhancement for the incident page: reload when the incident
// moves. Without JavaScript the page is complete; reload it by hand.
// Someone typing (a statement, a note) is never interrupted: the page then
// says it changed, and reloads once the typing is sent or the field left
// untouched again.
(function () {
  var live = document.getElementById("live-stream");
  if (!live || !window.EventSource) { return; }
  var status = document.getElementById("live");
  var seen = live.getAttribute("data-seen");
  var stale = false;
  function typing() {
    var fields = document.querySelectorAll("form textarea, form input[type=text], form input[type=datetime-local]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) { return true; }
    }
    var focused = document.activeElement;
    return !!(focused && focused.form && focused.tagName !== "BUTTON");
  }
  function reloadWhenIdle() {
    if (!typing()) { location.reload(); return; }
    if (status) { status.textContent = "changed since loaded: reload when done"; }
  }
  document.addEventListener("focusout", function () { if (stale) { setTimeout(reloadWhenIdle, 0); } });
  var source = new EventSource(live.getAttribute("data-stream"));
  source.onmessage = function (event) {
    if (event.data !== seen) { stale = true; reloadWhenIdle(); }
  };
  // Access taken back: the server ended the session.
  source.addEventListener("signed-out", function () {
    source.close();
    location.assign("/sign-in");
  });
})();
