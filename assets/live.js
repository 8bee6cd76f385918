// Progressive enhancement for the incident page: reload when the incident
// moves. Without JavaScript the page is complete; reload it by hand.
(function () {
  var live = document.getElementById("live-stream");
  if (!live || !window.EventSource) { return; }
  var seen = live.getAttribute("data-seen");
  var source = new EventSource(live.getAttribute("data-stream"));
  source.onmessage = function (event) {
    if (event.data !== seen) { location.reload(); }
  };
  // Access taken back: the server ended the session.
  source.addEventListener("signed-out", function () {
    source.close();
    location.assign("/sign-in");
  });
})();
